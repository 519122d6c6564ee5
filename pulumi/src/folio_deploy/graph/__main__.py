"""`python -m folio_deploy.graph [k3s|k8s|dev ...]`: every edge of a deployment and what breaks it."""

import argparse
import sys

from folio_deploy.graph.check import Graph, check_graph, render
from folio_deploy.graph.model import Charts, Model, from_evaluation, from_skaffold
from folio_deploy.offline import evaluate, stand_in_secrets


def build(name: str, charts: Charts) -> Model:
    """The model of a Pulumi stack (k3s, k8s) or of skaffold's dev profile (dev)."""
    if name == "dev":
        return from_skaffold(charts)
    return from_evaluation(evaluate(name, secrets=stand_in_secrets(name)), charts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("deployments", nargs="*", default=["k3s", "k8s", "dev"])
    parser.add_argument("--edges", action="store_true", help="list every edge too")
    args = parser.parse_args(argv)
    failed = False
    with Charts() as charts:
        for name in args.deployments:
            graph = Graph(build(name, charts))
            print(f"== {name}")
            if args.edges:
                print("\n".join(f"  {edge}" for edge in graph.edges()))
            findings = check_graph(graph)
            print(render(findings))
            failed = failed or bool(findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
