"""Do the same LLM requests get the same replies from the local llama.cpp server?

Replays every request a data home's LLM cache recorded (e.g. a `make demo` home) against the
bundled model under several server settings, each three times, and counts per request family
(evol rewrites, sampled with a seed; JSON rankings, greedy) the requests whose reply changed between
rounds and those that differ from the recorded reply. The quick start's server is 8 slots with the
prompt cache on; llama.cpp's upstream threads name both the prompt cache and multi-slot batching as
sources of run-to-run drift, so each is switched off in turn.

Usage: python benchmarks/llm_reproducibility.py [STORE]   (default: $DEITA_HOME/store)
"""

import argparse
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from benchmark_sql import benchmark_rows
from openai import OpenAI

from deita_assets.core.batch import request_from_canonical
from deita_assets.core.llm_client import ClientSettings, completion_body
from deita_assets.core.llm_types import ChatRequest
from deita_assets.core.local_llm_server import LOCAL_BACKEND, local_llm_server
from deita_assets.core.models import BUNDLED_LLM
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.paths import default_store_root

SERVER_SETTINGS = ((8, True), (8, False), (2, False), (1, False))  # (slots, prompt cache)
ROUNDS = 3


Replies = list[list[str | None]]  # per round, per request


def replay(requests: Sequence[ChatRequest], slots: int, prompt_cache: bool) -> tuple[Replies, float]:
    """ROUNDS rounds of every request, `slots` at a time, on a fresh server; and seconds per round."""
    with local_llm_server(BUNDLED_LLM, 4096, slots, os.cpu_count() or 2) as url:
        client = OpenAI(base_url=url, api_key="unused")
        settings = ClientSettings(base_url=url, model=BUNDLED_LLM, backend=LOCAL_BACKEND)

        def ask(request: ChatRequest) -> str | None:
            body = completion_body(request, settings)
            reply = client.chat.completions.create(**body, extra_body={"cache_prompt": prompt_cache})
            return reply.choices[0].message.content

        started = time.perf_counter()
        with ThreadPoolExecutor(slots) as pool:
            rounds = [list(pool.map(ask, requests)) for _ in range(ROUNDS)]
        return rounds, (time.perf_counter() - started) / ROUNDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", default=str(default_store_root()))
    args = parser.parse_args()
    recorded = benchmark_rows(DuckDBStore(root=args.store), "select_llm_cache_requests")
    requests = [request_from_canonical(json.loads(row["request_json"])) for row in recorded]
    family_of = [r.template_version.split("-")[0] for r in requests]  # "evol-v1/…" -> "evol"
    print(f"{len(requests)} recorded requests from {args.store}; {ROUNDS} rounds per setting")
    print("varied: the reply changed between rounds; differ: round 1's reply is not the recorded one")
    print(f"{'slots':>5}  {'prompt cache':>12}  {'family':<6}  {'varied':>8}  {'differ':>8}  s/round")
    for slots, prompt_cache in SERVER_SETTINGS:
        rounds, seconds = replay(requests, slots, prompt_cache)
        cache = "on" if prompt_cache else "off"
        for family in sorted(set(family_of)):
            members = [i for i, f in enumerate(family_of) if f == family]
            varied = sum(1 for i in members if len({replies[i] for replies in rounds}) > 1)
            differ = sum(1 for i in members if rounds[0][i] != recorded[i]["response_text"])
            n = len(members)
            varied_of, differ_of = f"{varied} of {n}", f"{differ} of {n}"
            print(f"{slots:>5}  {cache:>12}  {family:<6}  {varied_of:>8}  {differ_of:>8}  {seconds:7.1f}")


if __name__ == "__main__":
    main()
