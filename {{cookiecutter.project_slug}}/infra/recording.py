"""Run the real program under Pulumi mocks and record every resource the engine would see.

No CLI, credentials or network: `pulumi.runtime.set_mocks` replaces the engine. Traps avoided
(see ENVIRONMENT.md): the mocks return names and the computed outputs downstream inputs depend on
(otherwise those inputs are silently dropped), the run is not a preview (so `apply` callbacks
run), and each recording gets fresh mocks and a fresh event loop.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

MOCK_PROJECT_NUMBER = "123456789012"
REDACTED = "[secret]"
SECRET_INPUTS = {"kubeconfig"}


@dataclass
class Recorded:
    """One resource as the engine sees it: inputs camelCase and nested."""

    urn: str
    type: str
    name: str
    parent_urn: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs, plus the computed outputs GCP would return."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        name = inputs.get("name") or args.name
        outputs = {**inputs, "name": name, **self._computed(args.typ, inputs, name)}
        return f"{name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None

    def _computed(self, typ: str, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        project = inputs.get("project", self.project_id)
        if typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
            return {"email": email, "name": f"projects/{project}/serviceAccounts/{email}"}
        if typ == "gcp:container/cluster:Cluster":
            return {
                "endpoint": "203.0.113.10",
                "masterAuth": {"clusterCaCertificate": "bW9jay1jYQ==", "clientCertificate": ""},
            }
        if typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            pool = inputs["workloadIdentityPoolId"]
            pools = f"projects/{MOCK_PROJECT_NUMBER}/locations/global/workloadIdentityPools"
            return {"name": f"{pools}/{pool}"}
        if typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            return {
                "name": (
                    f"projects/{MOCK_PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
                    f"{inputs['workloadIdentityPoolId']}/providers/"
                    f"{inputs['workloadIdentityPoolProviderId']}"
                )
            }
        if typ == "gcp:secretmanager/secret:Secret":
            return {"name": f"projects/{MOCK_PROJECT_NUMBER}/secrets/{inputs['secretId']}"}
        if typ == "gcp:storage/bucket:Bucket":
            return {
                "url": f"gs://{name}",
                "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
            }
        if typ == "gcp:logging/projectSink:ProjectSink":
            # unique_writer_identity: the project's Cloud Logging service agent.
            agent = f"service-{MOCK_PROJECT_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
            return {"writerIdentity": f"serviceAccount:{agent}"}
        if typ == "gcp:compute/network:Network" or typ == "gcp:compute/subnetwork:Subnetwork":
            return {"selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/{name}"}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent (mock args do not carry it)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            record = Recorded(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent_urn=request.parent,
                custom=bool(request.custom),
                inputs=_redact(_inputs_only(request)),
            )
            with self._lock:
                self.recorded.append(record)
        return response


def _inputs_only(request: Any) -> dict[str, Any]:
    """The inputs as sent (the mock state adds computed outputs, which are not inputs)."""
    return _whole_numbers(copy.deepcopy(rpc.deserialize_properties(request.object)))


def _whole_numbers(value: Any) -> Any:
    """Protobuf carries every number as a double; show 2.0 as 2, as the stack file wrote it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _redact(inputs: dict[str, Any]) -> dict[str, Any]:
    return {key: REDACTED if key in SECRET_INPUTS else value for key, value in inputs.items()}


def record(project: str, stack: str, project_id: str, program: Callable[[], Any]) -> list[Recorded]:
    """Run `program` under fresh mocks and a fresh event loop; return what it registered."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi_settings.ROOT.set(None)
        mocks = RecordingMocks(project_id)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=project, stack=stack, preview=False, monitor=monitor
        )

        @pulumi.runtime.test
        def run() -> None:
            program()

        run()
        return list(monitor.recorded)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
