"""Set the stack policy (``infra/stack_policy.json``) on the deployed stack: ``make deploy`` runs
this right after ``cdk deploy`` (CDK cannot set a stack policy itself).

CloudFormation checks a stack policy on every update. This one lets every update through except
replacing or deleting a DynamoDB table, a secret or a KMS key: a renamed construct, a changed
secret generator or a table property that needs replacement would otherwise give the stack a
new, empty table, or new key material that leaves every stored card unfindable. Such an update
fails and rolls back instead. To make one on purpose, lift the policy for that one update
(docs/deploy.md, "Changing what the stack policy protects").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "infra" / "stack_policy.json"


def policy() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text())  # type: ignore[no-any-return]


def protected_types(document: dict[str, Any] | None = None) -> set[str]:
    """Resource types the policy keeps from being replaced or deleted."""
    found: set[str] = set()
    for statement in (document or policy())["Statement"]:
        if statement["Effect"] == "Deny" and {"Update:Replace", "Update:Delete"} <= set(
            statement["Action"]
        ):
            found |= set(statement["Condition"]["StringEquals"]["ResourceType"])
    return found


def stacks_in(cdk_out: Path) -> list[tuple[str, str | None]]:
    """(stack name, region or None) of every stack in a synthesized cloud assembly."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    found = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        region = str(artifact.get("environment", "")).rsplit("/", 1)[-1]
        name = artifact.get("properties", {}).get("stackName") or artifact.get("displayName")
        found.append((str(name or artifact_id), None if region.startswith("unknown") else region))
    return found


def apply(stack_name: str, client: Any) -> None:
    client.set_stack_policy(StackName=stack_name, StackPolicyBody=json.dumps(policy()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--stack", action="append", help="stack name (default: cdk.out's stacks)")
    args = parser.parse_args(argv)
    import boto3

    targets = [(name, None) for name in args.stack] if args.stack else stacks_in(args.cdk_out)
    if not targets:
        print(f"no stack in {args.cdk_out}: run cdk synth or deploy first", file=sys.stderr)
        return 1
    for name, region in targets:
        apply(name, boto3.client("cloudformation", region_name=region))
        print(f"stack policy set on {name}: no replacing or deleting {sorted(protected_types())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
