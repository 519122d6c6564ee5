"""The evaluation set (questions.jsonl: questions on the seed catalog with the books a correct
answer cites) and its metrics: recall@5 and MRR for retrieval, citation precision for answers.

recall@5 of one question is |expected ∩ top 5| / min(|expected|, 5), so a question expecting
seven books can still score 1; MRR uses the first expected book in the top 10. Citation
precision is over all answerable questions: cited books that were expected / books cited.
Questions of kind "none" have no answer in the catalog: they count toward no_answer_accuracy
(nothing cited) instead.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources

K = 5
MRR_DEPTH = 10


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # semantic | graph | mixed | none
    question: str
    expected: tuple[str, ...]


@dataclass
class Outcome:
    question: Question
    ranked: list[str]
    cited: list[str] | None = None

    @property
    def recall(self) -> float:
        expected = set(self.question.expected)
        return len(expected & set(self.ranked[:K])) / min(len(expected), K)

    @property
    def reciprocal_rank(self) -> float:
        for rank, book_id in enumerate(self.ranked[:MRR_DEPTH], start=1):
            if book_id in self.question.expected:
                return 1 / rank
        return 0.0


@dataclass
class Report:
    questions: int
    recall_at_5: float
    mrr: float
    citation_precision: float | None
    no_answer_accuracy: float | None
    by_kind: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    misses: list[Outcome] = field(default_factory=list)


def load_questions() -> list[Question]:
    text = resources.files(__package__).joinpath("questions.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Question(r["id"], r["kind"], r["question"], tuple(r["expected"])) for r in rows]


def score(outcomes: list[Outcome]) -> Report:
    answerable = [o for o in outcomes if o.question.expected]
    unanswerable = [o for o in outcomes if not o.question.expected]
    by_kind: dict[str, tuple[int, float, float]] = {}
    for kind in sorted({o.question.kind for o in answerable}):
        group = [o for o in answerable if o.question.kind == kind]
        by_kind[kind] = (
            len(group),
            sum(o.recall for o in group) / len(group),
            sum(o.reciprocal_rank for o in group) / len(group),
        )
    asked = [o for o in answerable if o.cited is not None]
    cited = sum(len(o.cited or []) for o in asked)
    correct = sum(len(set(o.cited or []) & set(o.question.expected)) for o in asked)
    asked_none = [o for o in unanswerable if o.cited is not None]
    return Report(
        questions=len(outcomes),
        recall_at_5=sum(o.recall for o in answerable) / max(len(answerable), 1),
        mrr=sum(o.reciprocal_rank for o in answerable) / max(len(answerable), 1),
        citation_precision=(correct / cited if cited else 0.0) if asked else None,
        no_answer_accuracy=(sum(1 for o in asked_none if not o.cited) / len(asked_none))
        if asked_none
        else None,
        by_kind=by_kind,
        misses=[o for o in answerable if o.recall < 1],
    )


async def evaluate(
    questions: list[Question],
    *,
    search: Callable[[str], Awaitable[list[str]]],
    ask: Callable[[str], Awaitable[list[str]]] | None = None,
) -> Report:
    """Run every question through `search` (ranked book ids) and, if given, `ask` (cited ids)."""
    outcomes = []
    for question in questions:
        ranked = await search(question.question)
        cited = await ask(question.question) if ask is not None else None
        outcomes.append(Outcome(question, ranked, cited))
    return score(outcomes)


def format_report(report: Report, *, show_misses: bool = True) -> str:
    lines = [
        f"questions            {report.questions}",
        f"recall@{K}             {report.recall_at_5:.3f}",
        f"MRR                  {report.mrr:.3f}",
    ]
    if report.citation_precision is not None:
        lines.append(f"citation precision   {report.citation_precision:.3f}")
    if report.no_answer_accuracy is not None:
        lines.append(
            f"no-answer accuracy   {report.no_answer_accuracy:.3f}  (questions the catalog cannot answer)"
        )
    for kind, (count, recall, mrr) in report.by_kind.items():
        lines.append(f"  {kind:<10} n={count:<3} recall@{K} {recall:.3f}  MRR {mrr:.3f}")
    if show_misses and report.misses:
        lines.append("not fully found:")
        for miss in report.misses:
            lines.append(
                f"  {miss.question.id} {miss.question.question!r}: expected {list(miss.question.expected)}, "
                f"top {K} {miss.ranked[:K]}"
            )
    return "\n".join(lines)
