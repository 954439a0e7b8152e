"""The HTML page at / that lets a person running the demo read the emulated forum: topics with their posts."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from .state import ForumState, iso

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_env.filters["iso"] = iso
_PAGE = _env.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Forum sandbox</title>
<style>body{font:14px sans-serif;max-width:60em;margin:2em auto}article{border-top:1px solid #ccc;padding:.5em 0}
.meta{color:#666;font-size:12px}pre{white-space:pre-wrap;margin:.3em 0}</style></head><body>
<h1>Forum sandbox</h1>
<p class="meta">{{ topics|length }} topics, {{ deliveries }} webhook deliveries; webhook: {{ hook or "not set" }}</p>
{% for topic in topics %}<section><h2>#{{ topic.id }} {{ topic.title }}
<small class="meta">category {{ topic.category_id }}</small></h2>
{% for post in topic.posts %}<article><div class="meta">#{{ post.post_number }} {{ post.username }}
{{ post.created_at|iso }}{% if post.reply_to_post_number %} ↩ #{{ post.reply_to_post_number }}{% endif %}</div>
<pre>{{ post.raw }}</pre></article>{% endfor %}</section>{% else %}<p>No topics yet.</p>{% endfor %}
</body></html>""")


def render_page(state: ForumState) -> str:
    with state._lock:
        topics = [state.topics[i] for i in sorted(state.topics)]
        hook = state.hook.url if state.hook else None
        return _PAGE.render(topics=topics, deliveries=len(state.deliveries), hook=hook)
