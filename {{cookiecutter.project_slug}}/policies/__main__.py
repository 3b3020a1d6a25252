"""The CrossGuard policy pack: `pulumi preview --policy-pack policies`. Only builds the pack.

Constructing PolicyPack starts the analyzer's gRPC server and never returns, so nothing imports
this module; the validators live in policies/rules.py, where tests and the offline plan use them.
"""

import sys
from pathlib import Path

# The CLI runs this directory as a script; imports are rooted at the project directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies.rules import POLICIES, PlanResource, Policy, check_resource

LEVELS = {
    "advisory": EnforcementLevel.ADVISORY,
    "mandatory": EnforcementLevel.MANDATORY,
    "disabled": EnforcementLevel.DISABLED,
}


def schema(policy: Policy) -> PolicyConfigSchema | None:
    if not policy.params:
        return None
    properties = {
        key: {"type": "array", "default": value}
        if isinstance(value, list)
        else {"type": "number", "default": value}
        for key, value in policy.params.items()
    }
    return PolicyConfigSchema(properties=properties)


def _whole(value):
    """The CLI sends config through protobuf, every number a double: 64 arrives as 64.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def params(policy: Policy, config) -> dict:
    return {key: _whole(config.get(key, default)) for key, default in policy.params.items()}


def resource_policy(policy: Policy) -> ResourceValidationPolicy:
    # args.props is pulumi_policy's read-only, unknown-checking proxy: pass it on as it is.
    # Copying it (dict(...)) would read every input, so one unknown input in preview would stop
    # the policy for the resource even when the policy never looks at that input.
    def validate(args, report_violation) -> None:
        found = check_resource(
            policy, args.resource_type, args.props, params(policy, args.get_config())
        )
        for message in found:
            report_violation(message)

    return ResourceValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=LEVELS[policy.level],
        config_schema=schema(policy),
    )


def stack_policy(policy: Policy) -> StackValidationPolicy:
    def validate(args, report_violation) -> None:
        resources = [PlanResource(r.resource_type, r.name, r.props) for r in args.resources]
        for _resource, message in policy.validate(resources, params(policy, args.get_config())):
            report_violation(message)

    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=LEVELS[policy.level],
        config_schema=schema(policy),
    )


PolicyPack(
    name="llmops-guardrails",
    policies=[stack_policy(p) if p.stack else resource_policy(p) for p in POLICIES],
)
