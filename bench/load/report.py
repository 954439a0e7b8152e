"""The report: percentiles, the targets and their verdicts, and the table of a run's result."""

from __future__ import annotations

from typing import Any

TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def targets(ratio: float, open_loop: dict[str, Any], accounting: dict[str, Any]) -> dict[str, Any]:
    """The targets: throughput >= 50% of the ceiling, p99 < 50 ms at the open loop's rate, zero lost or
    duplicated."""
    return {
        "ratio_min": TARGET_RATIO, "ratio_pass": ratio >= TARGET_RATIO,
        "p99_ms_at_rate_max": TARGET_P99_MS, "p99_pass": open_loop["p99_ms"] < TARGET_P99_MS,
        "zero_lost_duplicated_pass": accounting["lost"] == 0 and accounting["duplicated"] == 0,
    }


def passed(targets: dict[str, Any], accounting: dict[str, Any], duplicates: dict[str, Any]) -> bool:
    """Every target met, every delivery answered, and each of the duplicate burst's MsgIds stored once."""
    return (
        targets["ratio_pass"]
        and targets["p99_pass"]
        and targets["zero_lost_duplicated_pass"]
        and accounting["delivery_failures"] == 0
        and duplicates["stored"] == duplicates["distinct"]
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _best_of(rounds: list[int]) -> str:
    return f"best of {', '.join(str(rps) for rps in rounds)}" if len(rounds) > 1 else ""


def print_table(r: dict[str, Any]) -> None:
    hub_w, bare_w, ol = r["hub_wrk"], r["bare_wrk"], r["hub_open_loop"]
    acc, dup = r["accounting"], r["duplicates"]
    rows = [
        (f"closed loop (wrk -t{r['wrk_threads']} -c{r['connections']}, {r['duration_s']:.0f}s a run)", "", ""),
        ("  bare Flask ceiling: msg/s", f"{bare_w['rps']:.0f}", _best_of(r["rounds_rps"]["bare"])),
        ("  hub: msg/s", f"{hub_w['rps']:.0f}", _best_of(r["rounds_rps"]["hub"])),
        ("  hub / ceiling", f"{r['ratio']:.0%}", f"{verdict(r['ratio'] >= TARGET_RATIO)} (>= {TARGET_RATIO:.0%})"),
        ("  bare p50 / p99 ms", f"{bare_w['p50_us'] / 1000:.1f} / {bare_w['p99_us'] / 1000:.1f}", ""),
        ("  hub p50 / p99 ms", f"{hub_w['p50_us'] / 1000:.1f} / {hub_w['p99_us'] / 1000:.1f}", ""),
        ("  server CPU ms per message (hub, bare)",
         f"{hub_w['server_cpu_ms_per_msg']:.2f}, {bare_w['server_cpu_ms_per_msg']:.2f}", ""),
        ("  hub passive replies", f"{hub_w['passive']} of {hub_w['ok']}", ""),
        ("  non-2xx / socket errors (hub, bare)",
         f"{hub_w['non2xx']}/{hub_w['errors_total']}, {bare_w['non2xx']}/{bare_w['errors_total']}", ""),
        (f"open loop {ol['offered_rate']:.0f} msg/s offered, {ol['duration_s']:.0f}s (hub)", "", ""),
        ("  achieved msg/s", f"{ol['achieved_rate']:.1f}", ""),
        ("  p50 / p99 / max ms", f"{ol['p50_ms']:.1f} / {ol['p99_ms']:.1f} / {ol['max_ms']:.1f}",
         f"{verdict(ol['p99_ms'] < TARGET_P99_MS)} (p99 < {TARGET_P99_MS:.0f} ms)"),
        ("  errors", str(ol["errors"]), ""),
    ]
    if r.get("bare_open_loop"):
        bol = r["bare_open_loop"]
        rows.append(("  bare, same rate: p50 / p99 / max ms",
                     f"{bol['p50_ms']:.1f} / {bol['p99_ms']:.1f} / {bol['max_ms']:.1f}", "(harness floor)"))
    if r.get("rate_sweep") and len(r["rate_sweep"]) > 1:
        rows.append(("rate sweep (fan questions: answered passively)", "", ""))
        rows += [(f"  {part['rate']:.0f} msg/s: p50 / p99 ms, passive share",
                  f"{part['p50_ms']:.1f} / {part['p99_ms']:.1f}, {part['passive_share_of_questions']:.0%}", "")
                 for part in r["rate_sweep"]]
    rows += [
        ("accounting (all hub phases)", "", ""),
        ("  MsgIds sent", str(acc["acknowledged"]), ""),
        ("  deliveries unanswered (non-2xx, socket errors)", str(acc["delivery_failures"]),
         verdict(acc["delivery_failures"] == 0)),
        ("  inbound rows stored (hub stats, hub stopped)", str(acc["stored"]), ""),
        ("  lost / duplicated", f"{acc['lost']} / {acc['duplicated']}",
         verdict(acc["lost"] == 0 and acc["duplicated"] == 0)),
        *([("  missing MsgIds found in", ", ".join(f"{k} {v}" for k, v in acc["missing_found_in"].items()),
            ", ".join(acc["missing_sample"][:3]))] if acc["missing_msgids"] else []),
        (f"  duplicates: {dup['distinct']} MsgIds x3", f"stored {dup['stored']}, {dup['ok']}/{dup['deliveries']} 2xx",
         verdict(dup["stored"] == dup["distinct"] and dup["ok"] == dup["deliveries"])),
        ("  same reply to all 3 copies: sequential, concurrent",
         f"{dup['replies_consistent_sequential']}/{dup['sequential']}, "
         f"{dup['replies_consistent_concurrent']}/{dup['concurrent']}", ""),
    ]
    width = max(len(row[0]) for row in rows) + 2
    vwidth = max(len(row[1]) for row in rows) + 2
    print(f"\nWebhook load — {r['database']} + {r['redis']}, "
          f"gunicorn {r['workers']} workers x gthread {r['threads']} threads, "
          f"{r['cpus']} CPUs shared by wrk/the generator and the server (load average at start: "
          f"{r['loadavg_at_start']:.1f})")
    print("-" * (width + vwidth + 24))
    for name, value, status in rows:
        print(f"{name:<{width}}{value:>{vwidth}}  {status}")
    print("-" * (width + vwidth + 24))
    print(f"overall: {'PASS' if r['pass'] else 'MISS'}")
