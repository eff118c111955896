"""Classifies `perf script` samples of rankd by pipeline stage; prints microseconds per answered call.

    perf_stages.py --hz HZ NAME=DIR [NAME=DIR ...]

Each DIR holds script.txt (`perf script` of a `perf record -F HZ -g` run) and load.json (rank-load's report, for the
calls answered OK). A sample belongs to the first stage below whose pattern one of its frames matches, so a stage
named earlier wins over the ones that call it (the tree kernel over the scorer, a source over the generator). Runs of
one NAME are averaged; the table has a column per NAME.
"""

import argparse
import collections
import json
import re
import statistics

STAGES = [
    ("score.kernel", r"rk_quickscore"),
    ("score.other", r"finishScores|rawScores_8|TwoPhaseScorer|completeModelScores|GradientBoostedTrees"),
    ("candidates.reach_scan", r"VenuesInReach"),
    ("candidates.embedding", r"EmbeddingSource"),
    ("candidates.popular", r"PopularSource"),
    ("candidates.new", r"NewVenuesSource"),
    ("candidates.covisit_reorder", r"CovisitSource|ReorderSource"),
    ("candidates.merge", r"CandidateGenerator"),
    ("rerank.exploration", r"RerankerV7explore"),
    ("rerank.sort", r"sortKept"),
    ("rerank.greedy_fill", r"GreedyWindow"),
    ("rerank.other", r"Reranker"),
    ("features.join", r"joinedRows|FeatureJoiner"),
    ("features.online", r"OnlineFeature|fill10candidates"),
    ("pipeline.metrics", r"SurfaceMetrics|PipelineMetrics"),
    ("request.prepare", r"EngineC7prepare|RequestFrame"),
    ("engine.execute_other", r"EngineC7execute"),
    ("sections.encode", r"ContractMapping"),
    ("sections.other", r"recommendCounting"),
    ("handler.other", r"RankingB8HandlersC9recommend|RequestTracing"),
    ("transport.pool", r"WorkerPool"),
    ("transport.nghttp2", r"nghttp2"),
    ("transport.send", r"__send|sendmsg|sendto"),
    ("transport.read", r"\bread\b|recvfrom|sys_read"),
    ("transport.epoll", r"epoll_wait"),
    ("transport.event_loop", r"EventLoop"),
]
PATTERNS = [(name, re.compile(pattern)) for name, pattern in STAGES]


def classify(path):
    counts = collections.Counter()
    stack = []

    def flush():
        if not stack:
            return
        text = "\n".join(stack)
        for name, pattern in PATTERNS:
            if pattern.search(text):
                counts[name] += 1
                return
        counts["other"] += 1

    with open(path, errors="replace") as lines:
        for line in lines:
            if line[:1] in ("\t", " "):
                stack.append(line.strip())
            else:
                flush()
                stack = []
    flush()
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hz", type=float, required=True)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    per = collections.defaultdict(lambda: collections.defaultdict(list))
    answered = collections.defaultdict(list)
    for spec in args.runs:
        name, directory = spec.split("=", 1)
        report = json.load(open(f"{directory}/load.json"))
        ok = report["status_counts"].get("OK", 0)
        answered[name].append(ok)
        counts = classify(f"{directory}/script.txt")
        for stage in [s for s, _ in STAGES] + ["other"]:
            per[name][stage].append(counts[stage] / args.hz / max(ok, 1) * 1e6)
    names = list(per)
    print("us of CPU per answered call, by stage (mean of the runs)")
    print("stage".ljust(30) + "".join(n.rjust(16) for n in names))
    for stage in [s for s, _ in STAGES] + ["other"]:
        print(stage.ljust(30) + "".join(f"{statistics.mean(per[n][stage]):16.1f}" for n in names))
    print("total".ljust(30) + "".join(f"{sum(statistics.mean(v) for v in per[n].values()):16.1f}" for n in names))
    for prefix in ("score", "candidates", "rerank", "features", "transport"):
        print(
            f"  {prefix}.*".ljust(30)
            + "".join(
                f"{sum(statistics.mean(v) for s, v in per[n].items() if s.startswith(prefix + '.')):16.1f}"
                for n in names
            )
        )
    print("calls answered OK per run: " + "; ".join(f"{n} {answered[n]}" for n in names))


if __name__ == "__main__":
    main()
