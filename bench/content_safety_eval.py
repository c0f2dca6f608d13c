"""Precision and recall of the phishing detector (tidings.policy.content_safety) on the labelled set.

    .venv/bin/python bench/content_safety_eval.py [--data tests/data/content_safety_eval.jsonl]
        [--threshold 0.5] [--errors]

The set is split deterministically: a message belongs to the held-out third when the SHA-256 of
its text is 0 modulo 3. Weights, cue lists and the brand list are tuned on the other two thirds
only; the held-out figures are the honest estimate. `--errors` lists the tuning split's mistakes
(never the held-out ones, so looking at them cannot leak into tuning).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tidings.policy.content_safety import BLOCK_THRESHOLD, assess_inbound

DEFAULT_DATA = ROOT / "tests" / "data" / "content_safety_eval.jsonl"


def held_out(text: str) -> bool:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 3 == 0


def load(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Figures:
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    recall_by_lang: dict[str, tuple[int, int]]  # lang -> (caught, phishing)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(rows: list[dict[str, str]], threshold: float = BLOCK_THRESHOLD) -> tuple[Figures, list[tuple[dict[str, str], float]]]:
    counts: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    phishing: Counter[str] = Counter()
    errors: list[tuple[dict[str, str], float]] = []
    for row in rows:
        verdict = assess_inbound(row["text"], threshold=threshold)
        predicted = verdict.score >= threshold
        actual = row["label"] == "phishing"
        counts[("t" if predicted == actual else "f") + ("p" if predicted else "n")] += 1
        if actual:
            phishing[row["lang"]] += 1
            caught[row["lang"]] += predicted
        if predicted != actual:
            errors.append((row, verdict.score))
    by_lang = {lang: (caught[lang], phishing[lang]) for lang in sorted(phishing)}
    return Figures(len(rows), counts["tp"], counts["fp"], counts["fn"], counts["tn"], by_lang), errors


def report(name: str, f: Figures) -> str:
    langs = "  ".join(f"{lang} {c}/{n} ({c / n:.2f})" for lang, (c, n) in f.recall_by_lang.items())
    return (f"{name}: {f.n} messages  precision {f.precision:.3f}  recall {f.recall:.3f}  F1 {f.f1:.3f}\n"
            f"  confusion            predicted phishing  predicted legitimate\n"
            f"    actual phishing    {f.tp:>18}  {f.fn:>20}\n"
            f"    actual legitimate  {f.fp:>18}  {f.tn:>20}\n"
            f"  recall per language: {langs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threshold", type=float, default=BLOCK_THRESHOLD)
    parser.add_argument("--errors", action="store_true", help="list the tuning split's mistakes")
    args = parser.parse_args()
    rows = load(args.data)
    tune = [r for r in rows if not held_out(r["text"])]
    hold = [r for r in rows if held_out(r["text"])]
    tuned, tune_errors = evaluate(tune, args.threshold)
    held, _ = evaluate(hold, args.threshold)
    overall, _ = evaluate(rows, args.threshold)
    print(f"threshold {args.threshold}; targets: precision >= 0.95, recall >= 0.90")
    print(report("tuning split (2/3)", tuned))
    print(report("held-out split (1/3)", held))
    print(report("all", overall))
    if args.errors:
        for row, score in tune_errors:
            print(f"  {row['label']:<10} {score:.3f} [{row['lang']}] {row['text']}")


if __name__ == "__main__":
    main()
