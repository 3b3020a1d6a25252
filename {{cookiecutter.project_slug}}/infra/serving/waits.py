"""How long Pulumi waits for a track's Deployment and Service, and when it must not wait at all.

pulumi-kubernetes waits for a Service to have endpoints and a Deployment to roll out (10 min by
default). A parked track (0 replicas) can never satisfy the Service wait, so its Deployment and
Service carry `pulumi.com/skipAwait: "true"`; active ones get custom timeouts long enough for a
GPU node to scale up plus the startup probe's window (`await_timeout_s`). Contract:
pulumi/pulumi-kubernetes provider/pkg/await/await.go (Creation/Update skip the awaiter when
metadata.SkipAwaitLogic(inputs)), provider/pkg/await/service.go (ready once the Endpoints object
has subsets, DefaultServiceTimeoutMins = 10), provider/pkg/metadata/overrides.go
(TimeoutDuration: the resource's customTimeouts first).
"""

from __future__ import annotations

from infra.serving.args import ServingOnGkeArgs, parked
from serving.spec import ServingSpec

SKIP_AWAIT = "pulumi.com/skipAwait"
# Budget for a GPU node to be added from zero before the pod can start: node create, GPU driver
# install, image streaming of the multi-GB vLLM image. A ceiling, not a wait.
NODE_SCALE_UP_S = 900


def await_annotations(args: ServingOnGkeArgs, track: str) -> dict[str, str] | None:
    """A parked track's Deployment and Service: Pulumi must not wait for pods that never come."""
    return {SKIP_AWAIT: "true"} if parked(args, track) else None


def await_timeout_s(spec: ServingSpec, max_replicas: int) -> int:
    """How long Pulumi may wait for an active track's Deployment (and its Service) to be ready.

    The first pod may need a GPU node from zero (NODE_SCALE_UP_S), then up to the startup probe's
    window (failureThreshold x periodSeconds) plus one readiness period. The rollout replaces pods
    one at a time (maxSurge 1, maxUnavailable 0) and a replacement may wait for the old pod's GPU
    node (termination grace), so every further replica adds that window again.
    """
    probes = spec.gke.probes
    per_pod = (
        probes.startup.failure_threshold * probes.startup.period_s
        + probes.readiness.period_s
        + spec.gke.termination_grace_s
    )
    return NODE_SCALE_UP_S + max(1, max_replicas) * per_pod
