"""The parts of bench/webhook_load.py (and bench/webhook_ab.py), one job each:

    wire     what WeChat sends: the signed query, a text message's XML, the message wrk sent as its n-th
    stack    the processes of a run (hub serve, the bare app, embedded Redis, a private PostgreSQL), the
             instance they share, and the CPU time they spend
    drivers  the load: wrk runs, the open loop, redelivery of what got no answer, the duplicate burst
    store    what the hub stored: inbound rows by MsgId, the intake files it left behind, the accounting
    report   percentiles, the targets and their verdicts, the table
"""
