"""Markdown for bench/results.md: tables per measurement, targets, machine, and what the numbers mean."""
from __future__ import annotations

import math
import re
from pathlib import Path

TARGET_ADDED_P50_MS = 5.0
TARGET_TTFT_P50_MS = 10.0
TARGET_STREAMS = 500
TARGET_LEASE_RATIO = 2.0
README_START, README_END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"


def ms(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def mib(value: float | None) -> str:
    return "–" if not value else f"{value / 2**20:.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


# ---- derived figures -------------------------------------------------------------------------------


HELD_FRACTION = 0.95  # "held": this share of the level was open at the same time, upstream side


def clean(row: dict) -> bool:
    """Every stream of the level completed (HTTP 200, all chunks, [DONE])."""
    return not row.get("skipped") and row.get("failed") == 0 and row.get("ok") == row.get("streams")


def held(row: dict) -> bool:
    """Clean, and the streams really ran concurrently: the simulator saw ≥ 95 % of them open at once.
    (A gateway that cannot keep up still completes every stream, but one after the other.)"""
    return clean(row) and (row.get("sim_peak_streams") or 0) >= HELD_FRACTION * row["streams"]


def max_level(cls: dict, test=held) -> int | None:
    """Largest level passing `test`."""
    passed = [row["streams"] for row in cls.get("levels") or () if test(row)]
    return max(passed) if passed else None


def max_clean_level(cls: dict) -> int | None:
    return max_level(cls, clean)


def lease_ratio(lease: dict, scenario: str, key: str) -> float | None:
    rows = {r["accounts"]: r for r in lease.get("results") or () if r["scenario"] == scenario}
    if len(rows) < 2:
        return None
    small, large = rows[min(rows)], rows[max(rows)]
    return large[key] / small[key] if small.get(key) else None


def summary_rows(results: dict) -> list[list[str]]:
    classes = results.get("classes") or {}
    names = list(classes)
    rows = []

    def per_class(fn) -> list[str]:
        return [fn(classes[n]) for n in names]

    def added(cls: dict, part: str) -> float | None:
        return ((cls.get("latency") or {}).get(part) or {}).get("added_p50_ms")

    def judged(cls: dict, part: str, limit: float) -> str:
        value = added(cls, part)
        return f"{ms(value)} ms ({verdict(_le(value, limit))})"

    rows.append(["added latency, non-stream, p50 @ concurrency 1",
                 *per_class(lambda c: judged(c, "c1", TARGET_ADDED_P50_MS)), f"≤ {TARGET_ADDED_P50_MS:g} ms"])
    rows.append(["time-to-first-token overhead, p50",
                 *per_class(lambda c: judged(c, "ttft", TARGET_TTFT_P50_MS)), f"≤ {TARGET_TTFT_P50_MS:g} ms"])

    def streams(c: dict) -> str:
        best, no_errors = max_level(c), max_clean_level(c)
        tried = [r["streams"] for r in c.get("levels") or ()]
        if not tried:
            return "–"
        ok = best is not None and best >= TARGET_STREAMS
        # The most streams the simulator saw open at once during a level that had no error at all.
        peak = max((r.get("sim_peak_streams") or 0 for r in c.get("levels") or () if not r.get("failed")),
                   default=0)
        return (f"{best or 0} held at once; {no_errors or 0} completed without error, at most {peak} of them "
                f"open at once (tried {','.join(map(str, tried))}) ({verdict(ok)})")

    rows.append(["concurrent ~5 s streams held (all open at once, zero errors)", *per_class(streams),
                 f"≥ {TARGET_STREAMS}"])
    for lease in results.get("leasing") or ():
        if lease.get("error"):
            rows.append([f"leasing 10,000 vs 10 accounts ({lease['label']})", *(["error"] * len(names)),
                         f"≤ {TARGET_LEASE_RATIO:g}x"])
            continue
        wall = lease_ratio(lease, "steady", "p50_ms")
        cpu = lease_ratio(lease, "steady", "cpu_mean_ms")
        resting = lease_ratio(lease, "resting", "p50_ms")
        worst = max((x for x in (wall, resting) if x is not None), default=None)
        text = (f"{ms(wall, 2)}x wall p50 ({ms(cpu, 2)}x client CPU); with 10 % resting {ms(resting, 2)}x "
                f"({verdict(_le(worst, TARGET_LEASE_RATIO))})")
        rows.append([f"leasing 10,000 vs 10 accounts ({lease['label']})", text] + [""] * (len(names) - 1)
                    + [f"≤ {TARGET_LEASE_RATIO:g}x"])
    return rows


def _le(value: float | None, limit: float) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value <= limit


# ---- sections --------------------------------------------------------------------------------------


def section_latency(results: dict) -> str:
    rows = []
    for name, cls in (results.get("classes") or {}).items():
        for part, label in (("c1", "1"), ("c32", "32")):
            m = (cls.get("latency") or {}).get(part)
            if not m:
                continue
            d, g = m["direct"], m["gateway"]
            rows.append([name, label, ms(d["p50_ms"]), ms(d["p99_ms"]), ms(g["p50_ms"]), ms(g["p99_ms"]),
                         f"**{ms(m['added_p50_ms'])}**", ms(m["added_p99_ms"]), ms(g["rps"], 0),
                         ms(m.get("gateway_cpu_ms")), f"{d['n']}/{g['n']}", f"{d['errors']}/{g['errors']}"])
    if not rows:
        return ""
    return ("## (a) Added latency per non-stream completion\n\nDirect = widgetCreateSession + widgetStreamAssist "
            "read to the end, from the benchmark process with a pre-minted JWT (GeminiClient). Gateway = "
            "`POST /v1/chat/completions` (`stream: false`) through gempool. Simulator fragment delay 0; "
            "2 thoughts + 8 text fragments. Times in ms; added = gateway − direct at the same percentile. "
            "Gateway CPU = CPU time of the gunicorn tree per completion (from /proc; unaffected by waiting "
            "for a busy CPU, so the most stable figure here).\n\n"
            + table(["worker", "concurrency", "direct p50", "direct p99", "gateway p50", "gateway p99",
                     "added p50", "added p99", "gateway req/s", "gateway CPU ms/req", "n (d/g)", "errors (d/g)"],
                    rows))


def section_ttft(results: dict) -> str:
    rows = []
    for name, cls in (results.get("classes") or {}).items():
        m = (cls.get("latency") or {}).get("ttft")
        if not m:
            continue
        d, g = m["direct"], m["gateway"]
        rows.append([name, ms(d["p50_ms"]), ms(d["p99_ms"]), ms(g["p50_ms"]), ms(g["p99_ms"]),
                     f"**{ms(m['added_p50_ms'])}**", ms(m["added_p99_ms"]), f"{d['errors']}/{g['errors']}"])
    if not rows:
        return ""
    return ("## (b) Time to first content token (streaming)\n\nDirect = from the start of widgetCreateSession to "
            "the first text fragment of widgetStreamAssist; gateway = from sending the request to the first "
            "chunk with a non-empty `delta.content`. Concurrency 1, times in ms.\n\n"
            + table(["worker", "direct p50", "direct p99", "gateway p50", "gateway p99", "added p50", "added p99",
                     "errors (d/g)"], rows))


def section_seq_ttft(results: dict) -> str:
    probe = results.get("seq_ttft")
    if not probe:
        return ""
    if probe.get("error"):
        return "## (f) First token, sequential streams\n\nFailed: " + probe["error"][-500:]
    rows = [[r["client"], ms(r["direct_p50_ms"]), ms(r["gateway_p50_ms"]), ms(r["added_p50_ms"]),
             ms(r["added_mean_ms"]), ms(r.get("client_floor_p50_ms")), f"**{ms(r.get('gateway_share_p50_ms'))}**",
             ms(r["gateway_cpu_ms_per_stream"]), r["errors"]] for r in probe["results"]]
    return ("## (f) First token, sequential streams\n\n`bench/ttft_probe.py`: one account, one stream after the "
            f"other, {probe['fragments']} fragments each {probe['fragment_delay']:g} s apart, an upstream that "
            "writes with Nagle on (each chunk in three writes); `openai` = the openai SDK on one client, "
            "`close` = a fresh `Connection: close` connection per stream. Direct = widgetStreamAssist on a "
            f"session made beforehand. {probe['streams']} streams per side and client; times in ms. The client's "
            "floor is its own first-token time against a stand-in that answers after the upstream's wait; the "
            "gateway's share is added p50 minus that floor (the direct side's client has almost none); target: "
            "≤ 5 ms.\n\n"
            + table(["client", "direct p50", "gateway p50", "added p50", "added mean", "client floor p50",
                     "gateway's share p50", "gateway CPU ms/stream", "errors"], rows))


def section_streams(results: dict) -> str:
    rows = []
    direct = None
    for name, cls in (results.get("classes") or {}).items():
        direct = direct or (cls.get("latency") or {}).get("stream_direct_s")
        for r in cls.get("levels") or ():
            if r.get("skipped"):
                rows.append([name, r["streams"], "skipped: " + r["skipped"]] + ["–"] * 13)
                continue
            errors = ", ".join(f"{k}: {v}" for k, v in (r.get("errors") or {}).items()) or "0"
            per_stream = ((r.get("peak_rss") or 0) - (r.get("idle_rss") or 0)) / max(1, r["streams"])
            total, ttft = r.get("total") or {}, r.get("ttft") or {}
            rows.append([name, r["streams"], "yes" if held(r) else "**no**", f"{r.get('ok')}", errors,
                         f"{r.get('peak_open_client', '–')}/{r.get('sim_peak_streams', '–')}",
                         ms(total.get("p50"), 2), ms(total.get("p99"), 2), ms(_s_to_ms(ttft.get("p50")), 0),
                         ms(_s_to_ms(ttft.get("p99")), 0), mib(r.get("idle_rss")), f"**{mib(r.get('peak_rss'))}**",
                         f"{per_stream / 1024:.0f}", f"{r.get('idle_threads', '–')}→{r.get('peak_threads', '–')}",
                         mib(r.get("after_rss")), ms(r.get("gateway_cpu_ms_per_stream"))])
    if not rows:
        return ""
    note = f" One stream straight from the simulator takes {direct:.2f} s." if direct else ""
    return ("## (c) Concurrent streams and (d) gateway memory\n\nEach stream: 2 thoughts + 50 text fragments "
            "0.1 s apart (about 5.2 s), started over a ramp of ≤ 2 s by an asyncio load generator in its own "
            "process. A stream counts as ok only with HTTP 200, all 50 content chunks, `finish_reason: stop` "
            f"and `[DONE]`.{note} *Held* = every stream ok **and** the simulator saw ≥ 95 % of them open at "
            "the same time (a gateway that cannot keep up still completes every stream, one after the other; "
            "then total and TTFT grow). RSS = sum of VmRSS over gunicorn master + workers, sampled every "
            "100 ms; threads likewise. Peak open = streams open at once as seen by the client / by the "
            "simulator. KiB/stream = (peak − idle RSS) / streams.\n\n"
            + table(["worker", "streams", "held", "ok", "errors", "peak open (client/sim)", "total p50 s",
                     "total p99 s", "TTFT p50 ms", "TTFT p99 ms", "idle RSS MiB", "peak RSS MiB", "KiB/stream",
                     "threads", "RSS after MiB", "gateway CPU ms/stream"], rows))


def _s_to_ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def section_upload(results: dict) -> str:
    rows = []
    for name, cls in (results.get("classes") or {}).items():
        u = cls.get("upload")
        if not u:
            continue
        if "idle_rss" not in u:
            rows.append([name, u.get("error", "error")] + ["–"] * 6)
            continue
        rows.append([name, mib(u["idle_rss"]), mib(u["upload_peak_rss"]), mib(u["chat_peak_rss"]),
                     f"**{mib(u['added_rss'])}**", mib(u["after_rss"]), ms(u["upload_s"], 2), ms(u["chat_s"], 2)
                     + (f" ({u['error'][:80]})" if u.get("error") else "")])
    if not rows:
        return ""
    return ("## (e) 20 MB upload, then a chat that uses it\n\n`POST /v1/files` with a 20 MiB text file (the "
            "default GEMPOOL_MAX_UPLOAD_MB), then a non-stream chat referring to it (the gateway uploads it to "
            "the upstream session with widgetAddContextFile). RSS of the gateway tree sampled every 20 ms; "
            "MiB. Idle = RSS just before the upload, i.e. after the stream levels (RSS does not fall back to the "
            "start-up level, see (d)).\n\n"
            + table(["worker", "idle RSS", "peak during upload", "peak during chat", "added over idle", "RSS after",
                     "upload s", "chat s"], rows))


def section_leasing(results: dict) -> str:
    blocks = []
    for lease in results.get("leasing") or ():
        if lease.get("error"):
            blocks.append(f"**{lease['label']}**: error\n\n```\n{lease['error'][-800:]}\n```")
            continue
        rows = []
        by = {(r["scenario"], r["accounts"]): r for r in lease["results"]}
        sizes = sorted({r["accounts"] for r in lease["results"]})
        for scenario in ("steady", "fresh", "resting"):
            cells = [scenario]
            for size in sizes:
                r = by.get((scenario, size))
                if r is None:
                    cells += ["–"] * 3
                    continue
                sel = r.get("select_only") or {}
                server = f", server {ms(sel['server_p50_ms'], 3)}" if "server_p50_ms" in sel else ""
                cells += [f"{ms(r['p50_ms'], 2)} / {ms(r['mean_ms'], 2)}", ms(r["cpu_mean_ms"], 2),
                          f"{ms(sel.get('p50_ms'), 3)}{server}"]
            cpu = lease_ratio(lease, scenario, "cpu_mean_ms")
            wall = lease_ratio(lease, scenario, "p50_ms")
            cells.append(f"**{ms(wall, 2)}x** / {ms(cpu, 2)}x")
            rows.append(cells)
        header = ["pool state"]
        for size in sizes:
            header += [f"{size:,}: wall p50 / mean", f"{size:,}: CPU mean", f"{size:,}: SELECT p50"]
        header.append("ratio 10,000 : 10, wall p50 / CPU")
        steady = by.get(("steady", sizes[-1]), {}).get("with_reconnect")
        steady_small = by.get(("steady", sizes[0]), {}).get("with_reconnect")
        extra = ""
        if steady and steady_small:
            extra = (f"\n\nWith the connection given back after each lease, as `openai_api/chat.py` does "
                     f"(`releases_connections`): wall p50 {ms(steady_small['p50_ms'], 2)} ms ({sizes[0]}) / "
                     f"{ms(steady['p50_ms'], 2)} ms ({sizes[-1]:,}), CPU mean {ms(steady_small['cpu_mean_ms'], 2)} / "
                     f"{ms(steady['cpu_mean_ms'], 2)} ms.")
        plans = "\n".join(f"- {k}: `{v[:400]}`" for k, v in (lease.get("plans") or {}).items())
        blocks.append(f"**{lease['label']}** ({lease.get('server_version', '')}), {lease['results'][0]['n']} "
                      f"timed leases per cell, sizes measured in alternating blocks. Times in ms.\n\n"
                      + table(header, rows) + extra + (f"\n\nPlan of the lease query at {sizes[-1]:,} accounts:\n"
                                                       + plans if plans else ""))
    if not blocks:
        return ""
    return ("## Leasing cost: `accounts.pool.lease_account()` with 10 vs 10,000 accounts\n\nIn-process "
            "(`django.setup()`), one thread, a throwaway database per pool size. *steady*: every account used "
            "before; *fresh*: never used; *resting*: 5 % cooling down and 5 % needing a login, and those are the "
            "least recently used. The ratio that counts is wall p50 (what a request waits; on PostgreSQL the "
            "cost is on the server, invisible in the client's CPU); CPU = this thread's CPU time (robust on a "
            "busy machine). SELECT = the lease query alone as raw SQL (PostgreSQL: also the server's own "
            "execution time).\n\n" + "\n\n".join(blocks))


def section_logs(results: dict) -> str:
    rows = []
    for name, cls in (results.get("classes") or {}).items():
        info = cls.get("log") or {}
        top = "<br>".join(f"{n}× `{_md(text)}`" for text, n in info.get("top") or ()) or "–"
        exceptions = "<br>".join(f"{n}× `{_md(text)}`" for text, n in info.get("exceptions") or ()) or "–"
        rows.append([name, info.get("warnings_errors", "–"), top, exceptions, cls.get("error", "") or "–",
                     f"`{info['kept']}`" if info.get("kept") else "–"])
    if not rows:
        return ""
    return ("## Gateway log and stability\n\n" + table(["worker", "warning/error lines", "most frequent",
                                                        "exceptions", "run error", "full log"], rows))


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def section_machine(results: dict) -> str:
    m = results["meta"]
    load = ", ".join(f"{x:.2f}" for x in m.get("load_start", ())), ", ".join(f"{x:.2f}" for x in m.get("load_end", ()))
    busy = (m.get("load_start") or [0])[0] > 0.5 * (m.get("nproc") or 1)
    warning = ("\n\n> **The machine was busy** (load average above half the cores at the start): absolute "
               "numbers are inflated and noisy; compare sides measured in the same run, not across runs."
               if busy else "")
    return (f"Date: {m['date']} · duration {m.get('duration_s', '?')} s · mode: {'quick' if m['quick'] else 'full'}"
            f"{' · **interrupted**' if m.get('interrupted') else ''}\n\nCommand: `{m['command']}`\n\n"
            f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}; load average "
            f"(1/5/15 min) {load[0]} at start, {load[1]} at end. Python {m['python']}, Django {m['django']}, "
            f"gunicorn {m['gunicorn']}, gevent {m['gevent']}, requests {m['requests']}, SQLite {m['sqlite']}. "
            f"Gateway database: {m['database']}; pool of {m['accounts']} accounts; open-files limit {m['nofile']}. "
            f"Simulator on the same machine, {'on OS threads' if m.get('sim_threads') else 'under gevent'}"
            f"{', Nagle on' if m.get('sim_nagle') else ''} (see bench/simulator.py)."
            + warning)


def meaning(results: dict) -> str:
    """A short reading of the numbers, generated from them (the analysis is in bench/README.md)."""
    classes = results.get("classes") or {}
    lines = []
    for name, cls in classes.items():
        lat = cls.get("latency") or {}
        parts = []
        if lat.get("c1"):
            parts.append(f"adds {ms(lat['c1']['added_p50_ms'])} ms p50 to a non-stream completion at concurrency 1 "
                         f"and {ms((lat.get('c32') or {}).get('added_p50_ms'))} ms at 32")
        if lat.get("ttft"):
            parts.append(f"{ms(lat['ttft']['added_p50_ms'])} ms to the first token")
        if cls.get("levels"):
            parts.append(f"held {max_level(cls) or 0} streams open at once (all complete), and completed "
                         f"{max_clean_level(cls) or 0} without an error")
        failures = [r for r in cls.get("levels") or () if r.get("failed")]
        if failures:
            first = failures[0]
            parts.append(f"first failures at {first['streams']} streams ({', '.join(first.get('errors') or {})})")
        if cls.get("upload", {}).get("added_rss"):
            parts.append(f"a 20 MB upload + chat costs {mib(cls['upload']['added_rss'])} MiB over idle")
        if parts:
            lines.append(f"- **{name}** " + "; ".join(parts) + ".")
    for lease in results.get("leasing") or ():
        wall = lease_ratio(lease, "steady", "p50_ms") if not lease.get("error") else None
        if wall is not None:
            resting = lease_ratio(lease, "resting", "p50_ms")
            lines.append(f"- Leasing on {lease['label']}: a lease with 10,000 accounts takes {wall:.2f}x as long as "
                         f"one with 10 (wall p50, steady pool; {ms(resting, 2)}x with 10 % of the pool resting).")
    lines.append("- Overhead figures are differences of two noisy distributions measured in alternating blocks; on a "
                 "busy machine trust the p50s, not the p99s. The causes of missed targets and the proposed fixes are "
                 "in bench/README.md (\"Findings\").")
    return "## What this means\n\n" + "\n".join(lines)


def render(results: dict) -> str:
    names = list(results.get("classes") or {})
    summary = table(["target", *names, "target value"], summary_rows(results)) if results.get("classes") or \
        results.get("leasing") else ""
    sections = [
        "# gempool benchmark results\n\nGenerated by `bench/run.py` (see bench/README.md). Do not edit by hand.",
        section_machine(results),
        "## Targets\n\n" + summary if summary else "",
        meaning(results),
        section_latency(results), section_ttft(results), section_seq_ttft(results), section_streams(results),
        section_upload(results),
        section_leasing(results), section_logs(results),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def update_readme(path: Path, markdown: str) -> None:
    """Copy the targets table of the latest run between the markers of bench/README.md."""
    if not path.exists():
        return
    text = path.read_text()
    if README_START not in text or README_END not in text:
        return
    match = re.search(r"## Targets\n\n(.*?)\n\n## ", markdown, re.S)
    date = re.search(r"Date: ([^·]+)", markdown)
    body = (f"Latest run ({date.group(1).strip() if date else '?'}; full tables in "
            f"[results.md](results.md)):\n\n{match.group(1) if match else '(no targets measured)'}")
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    path.write_text(text[:start] + "\n" + body + "\n" + text[end:])
