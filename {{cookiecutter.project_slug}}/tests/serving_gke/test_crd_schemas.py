"""The CRD-backed serving objects validate against their UPSTREAM CRD schemas (crds/).

Gateway, HTTPRoute, HealthCheckPolicy, GCPBackendPolicy, PodMonitoring and SecretProviderClass have
no schema in kubernetes-validate. Their upstream CustomResourceDefinitions are vendored in crds/
(one version each, descriptions stripped; sources and versions in crds/README.md), and each
structural schema is turned into a JSON Schema as strictly as `kubeconform -strict`: an object with
`properties` and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` rejects
unknown fields, as the API server's strict field validation does (a typo fails here, not at
`pulumi up`). Not checked: CEL (`x-kubernetes-validations`), `format`, list-map key uniqueness,
defaulting (see crds/README.md).

Runs in the infra env (jsonschema, PyYAML); offline.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_serving_on_gke import args_for

from infra.config import load_stack_config
from infra.nodepools import compute_class
from infra.serving import render_objects
from infra.stacks import stack_names

CRD_DIR = Path(__file__).resolve().parent / "crds"
JINJA_SEQUENCES = ("{{", "{%", "{#")
# API groups the cluster serves itself (validated by test_serving_on_gke.py against the cluster's
# schema); any other group is a CRD and needs a vendored schema here.
BUILTIN_GROUPS = {
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
}
# Argument variants that change which objects or values are rendered.
VARIANTS = {
    "default": {},
    "hub-token": {"mount_hub_token": True},  # adds the SecretProviderClass
    "canary": {"canary_weight": 10, "canary_warm": True},
    # A capacity chain adds the serving pool's ComputeClass.
    "capacity-chain": {
        "compute_class": compute_class(
            load_stack_config("prod")
            .gpu_pools[0]
            .model_copy(
                update={
                    "capacity": ["reservation", "on-demand", "spot", "flex-start"],
                    "reservation": "h100-res",
                    "min_nodes": 0,
                }
            )
        )
    },
}
# Keywords whose values are data, not schemas: never rewritten.
DATA_KEYWORDS = ("default", "enum", "example", "required")
# Enough of ObjectMeta for what we render; other ObjectMeta fields are not checked.
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


class CrdValidationError(AssertionError):
    """An object the API server would refuse; the message names each failing path."""


def _vendor_module():
    spec = importlib.util.spec_from_file_location("crd_vendor", CRD_DIR / "vendor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def strict_schema(node: Any) -> Any:
    """A structural schema (openAPIV3Schema) as a strict draft-4 JSON Schema."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue  # CEL and list/map semantics: not checked here
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = strict_schema(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (
        "properties" in out
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def vendored() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the vendored document (source, group, kind, version, schema)."""
    docs = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["file"] = path.name
        docs[(f"{doc['group']}/{doc['version']}", doc["kind"])] = doc
    return docs


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    doc = vendored()[(api_version, kind)]
    schema = strict_schema(copy.deepcopy(doc["schema"]))
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props["metadata"] = OBJECT_META
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def json_path(parts) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "."


def validate(obj: dict[str, Any]) -> None:
    """Raise CrdValidationError listing every violation of the vendored schema (path: message)."""
    errors = sorted(
        validator(obj["apiVersion"], obj["kind"]).iter_errors(obj),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    if errors:
        name = f"{obj['kind']}/{obj.get('metadata', {}).get('name')}"
        lines = [f"{json_path(e.absolute_path)}: {e.message}" for e in errors]
        raise CrdValidationError(f"{name} violates its CRD schema:\n  " + "\n  ".join(lines))


def is_crd(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return group not in BUILTIN_GROUPS


def crd_objects(stack: str, variant: str) -> list[dict[str, Any]]:
    return [o for o in render_objects(args_for(stack, **VARIANTS[variant])) if is_crd(o)]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(copy.deepcopy(o) for o in objects if o["kind"] == kind)


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return crd_objects(stack_names()[0], "hub-token")


# ------------------------------------------------------------------ the rendered objects
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("stack", stack_names())
def test_every_crd_object_validates_against_its_upstream_schema(stack, variant):
    objects = crd_objects(stack, variant)
    assert objects
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize("stack", stack_names())
def test_every_rendered_crd_kind_has_a_vendored_schema(stack):
    rendered = {
        (o["apiVersion"], o["kind"]) for variant in VARIANTS for o in crd_objects(stack, variant)
    }
    missing = rendered - set(vendored())
    assert not missing, (
        f"no vendored CRD schema for {sorted(missing)}: add it to tests/serving_gke/crds "
        "(vendor.py SOURCES, README.md)"
    )
    expected = {
        "Gateway",
        "HTTPRoute",
        "HealthCheckPolicy",
        "GCPBackendPolicy",
        "PodMonitoring",
        "SecretProviderClass",
        "ComputeClass",
    }
    assert expected <= {kind for _, kind in rendered}


# ------------------------------------------------------------------ planted violations
def _raises(obj: dict[str, Any], path: str) -> str:
    with pytest.raises(CrdValidationError) as caught:
        validate(obj)
    message = str(caught.value)
    assert f"\n  {path}: " in message, message
    return message


def test_a_string_weight_in_an_httproute_is_caught(default_objects):
    route = by_kind(default_objects, "HTTPRoute")
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = "90"
    assert "is not of type 'integer'" in _raises(route, "spec.rules[0].backendRefs[0].weight")


def test_an_out_of_range_weight_in_an_httproute_is_caught(default_objects):
    route = by_kind(default_objects, "HTTPRoute")
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = -1
    _raises(route, "spec.rules[0].backendRefs[1].weight")


def test_an_unknown_field_in_a_health_check_policy_default_is_caught(default_objects):
    policy = by_kind(default_objects, "HealthCheckPolicy")
    policy["spec"]["default"]["checkIntervalSeconds"] = 10
    message = _raises(policy, "spec.default")
    assert "'checkIntervalSeconds' was unexpected" in message


def test_a_wrong_type_pod_monitoring_port_is_caught(default_objects):
    monitoring = by_kind(default_objects, "PodMonitoring")
    monitoring["spec"]["endpoints"][0]["port"] = ["http"]  # int-or-string: 8000 and "http" pass
    _raises(monitoring, "spec.endpoints[0].port")
    for port in (8000, "http"):
        monitoring["spec"]["endpoints"][0]["port"] = port
        validate(monitoring)


def test_a_misspelled_key_in_a_gcp_backend_policy_is_caught(default_objects):
    policy = by_kind(default_objects, "GCPBackendPolicy")
    policy["spec"]["default"]["timeoutSecs"] = policy["spec"]["default"].pop("timeoutSec")
    assert "'timeoutSecs' was unexpected" in _raises(policy, "spec.default")


def test_an_out_of_range_listener_port_and_a_missing_field_in_a_gateway_are_caught(
    default_objects,
):
    gateway = by_kind(default_objects, "Gateway")
    gateway["spec"]["listeners"][0]["port"] = 80_000
    del gateway["spec"]["gatewayClassName"]
    message = _raises(gateway, "spec.listeners[0].port")
    assert "spec: 'gatewayClassName' is a required property" in message


def test_a_secret_provider_class_with_non_string_parameters_is_caught(default_objects):
    spc = by_kind(default_objects, "SecretProviderClass")
    spc["spec"]["parameters"]["secrets"] = [{"resourceName": "x", "path": "y"}]
    _raises(spc, "spec.parameters.secrets")


def test_the_envelope_is_checked(default_objects):
    route = by_kind(default_objects, "HTTPRoute")
    route["metadata"]["labels"]["weight"] = 1
    route["status2"] = {}
    message = _raises(route, "metadata.labels.weight")
    assert ".: Additional properties are not allowed ('status2' was unexpected)" in message
    route = by_kind(default_objects, "HTTPRoute")
    route["apiVersion"] = "gateway.networking.k8s.io/v1beta1"
    with pytest.raises(KeyError):
        validate(route)  # no schema vendored for that version: not silently accepted


# ------------------------------------------------------------------ CEL (not evaluated here)
HEALTH_CHECK_SERVING_PORT_RULE = (
    "self.portSpecification == 'USE_SERVING_PORT' || !has(self.portSpecification) ? "
    "!has(self.port) && !has(self.portName) : true"
)


def test_health_check_port_satisfies_the_upstream_cel_rule(default_objects):
    """One CEL rule, by hand: it is the one the rendered HealthCheckPolicy is known to meet."""
    http = by_kind(default_objects, "HealthCheckPolicy")["spec"]["default"]["config"]
    node = vendored()[("networking.gke.io/v1", "HealthCheckPolicy")]["schema"]
    for key in ("spec", "default", "config", "httpHealthCheck"):
        node = node["properties"][key]
    assert HEALTH_CHECK_SERVING_PORT_RULE in {r["rule"] for r in node["x-kubernetes-validations"]}
    check = http["httpHealthCheck"]
    if check.get("portSpecification", "USE_SERVING_PORT") == "USE_SERVING_PORT":
        assert "port" not in check and "portName" not in check, check


# ------------------------------------------------------------------ the vendored files
def test_each_vendored_schema_records_its_upstream_source():
    sources = _vendor_module().SOURCES
    readme = (CRD_DIR / "README.md").read_text(encoding="utf-8")
    files = {doc["file"]: doc for doc in vendored().values()}
    assert set(files) == set(sources)
    for name, doc in files.items():
        source = doc["source"]
        assert {k: source[k] for k in sources[name]} == sources[name], name
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["retrieved"]), name
        assert source["repo"].startswith("https://github.com/"), name
        assert source["version"] == doc["version"] and doc["served"], name
        for value in (source["repo"], source["ref"], source["commit"], source["path"], name):
            assert value in readme, f"crds/README.md does not name {value}"


def test_vendored_files_are_safe_to_render_and_stripped():
    for path in sorted(CRD_DIR.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert not [s for s in JINJA_SEQUENCES if s in text], path.name
        doc = json.loads(text)
        stack = [doc["schema"]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                assert "description" not in node, path.name
                for key, value in node.items():
                    if key == "properties":
                        stack.extend(value.values())
                    elif key not in ("default", "enum"):
                        stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)


def test_every_vendored_pattern_compiles():
    """jsonschema applies `pattern` with Python's re: each must compile (Go RE2 is the source)."""
    for doc in vendored().values():
        text = json.dumps(doc["schema"])
        for pattern in re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', text):
            re.compile(json.loads(pattern))


def test_the_vendoring_script_keeps_properties_named_description():
    crd = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    schema:
      openAPIV3Schema:
        description: drop me
        type: object
        properties:
          spec:
            description: drop me too
            type: object
            properties:
              description: {type: string, description: a field called description}
"""
    vendor = _vendor_module()
    source = {"crd": "widgets.example.com", "version": "v1", "path": "x.yaml"}
    doc = vendor.extract(crd, source)
    spec = doc["schema"]["properties"]["spec"]
    assert spec == {"type": "object", "properties": {"description": {"type": "string"}}}
    assert "description" not in doc["schema"]
