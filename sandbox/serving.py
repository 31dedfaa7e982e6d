"""The serving loop on one machine: EventBridge delivering to Lambda targets, SageMaker's hosting
control plane, and `sagemaker-runtime` answered by the frozen copy's own MLflow scoring code.

moto keeps EventBridge's buses, rules and targets, and SageMaker's models, endpoint configs and
endpoints, but delivers to no Lambda, puts another account's bus's events in the caller's own,
has no UpdateEndpoint, makes every endpoint InService at once, answers InvokeEndpoint with
canned data, and judges the calls of these services against the resource `*` only. The mends
here, like sandbox/emulation.py's, each name the moto internal they replace (MOTO_INTERNALS,
checked by emulation.check_moto's kind of test):

- a Lambda target runs the function's handler as the Lambda runtime would: its own process,
  its environment, a session of its execution role (so moto judges its calls against the
  role's policies), the event on stdin; asynchronously, retried twice on failure, as
  EventBridge invokes Lambda;
- an event sent to another account's bus (an ARN) arrives there, and keeps its sender's
  `account`, as EventBridge's cross-account delivery does; and only if that bus's resource
  policy admits the sender for the entry (its `events:source` and `events:detail-type`, the
  sender's `aws:PrincipalArn` and `aws:PrincipalAccount`): a refused entry fails on its own
  (NotAuthorizedForSourceException when another source would have been admitted, else
  AccessDeniedException), as EventBridge answers PutEvents entry by entry;
- CreateEndpoint and UpdateEndpoint provision as SageMaker does, in the background: the
  config's model is read from its ModelDataSource with a session of the model's execution role
  (that role's S3 rights decide, as on AWS), loaded with MLflow's pyfunc loader as MLflow's
  serving container loads /opt/ml/model, and the endpoint becomes InService; a model that
  cannot load fails a creation (Failed) and rolls an update back (the previous config keeps
  serving, InService, with a FailureReason). Each end is a "SageMaker Endpoint State Change"
  on the account's default bus;
- InvokeEndpoint is answered by `mlflow.pyfunc.scoring_server.invocations`, the function
  MLflow's scoring server (`mlflow models serve`, and the container) answers /invocations with;
- sagemaker, events and cloudwatch calls are judged with roles.policy_eval against the
  resource they name (an endpoint's, a bus's, an alarm's ARN).
"""

import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MOTO_INTERNALS = {
    "moto.events.models.EventsBackend.put_events":
        "(self, events: 'list[dict[str, Any]]') -> 'list[dict[str, Any]]'",
    "moto.events.models.Rule.send_to_targets":
        "(self, original_event: 'EventMessageType', transform_input: 'bool' = True) -> 'None'",
    "moto.sagemaker.models.SageMakerModelBackend.create_endpoint":
        "(self, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]) "
        "-> moto.sagemaker.models.FakeEndpoint",
    "moto.sagemaker.models.SageMakerModelBackend.delete_endpoint":
        "(self, endpoint_name: str) -> None",
    "moto.sagemaker.models.SageMakerModelBackend.add_tags":
        "(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]",
    "moto.sagemakerruntime.responses.SageMakerRuntimeResponse.invoke_endpoint":
        "(self) -> tuple[int, dict[str, typing.Any], str | bytes]",
    "moto.iam.access_control.IAMRequestBase.check_action_permitted":
        "(self, resource: 'str') -> 'None'",
    "moto.events.utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE": str,
    # read: a bus's resource policy (put_permission's statements), for another account's sender
    "moto.events.models.EventBus.policy": property,
    "moto.events.models.events_backends": object,
}
STATE_CHANGE_SOURCE, STATE_CHANGE = "aws.sagemaker", "SageMaker Endpoint State Change"
JUDGED_SERVICES = ("sagemaker", "events", "monitoring")
RETRY_DELAYS = (2, 4)  # Lambda retries a failed asynchronous invocation twice (after minutes)

_lock = threading.RLock()
_origin = threading.local()  # the account an event being delivered was sent from
# The bus policies' verdicts on a PutEvents request's entries, from its IAM check to its
# delivery (moto runs both in the request's thread): [None or (ErrorCode, ErrorMessage)].
_verdicts = threading.local()
_installed = []


@dataclass
class Function:
    """A Lambda function as a stack declares it: handler, environment, execution role."""
    arn: str
    handler: str  # module.function
    role_arn: str
    environment: dict = field(default_factory=dict)
    timeout: int = 120


@dataclass
class Invocation:
    arn: str
    event: dict
    returncode: int
    output: str
    errors: str


@dataclass
class Hosting:
    """What the emulated SageMaker hosts: (account, region, endpoint) -> (config, model)."""
    endpoint_url: str
    folder: Path
    functions: dict = field(default_factory=dict)  # Lambda ARN -> Function
    invocations: list = field(default_factory=list)
    hosted: dict = field(default_factory=dict)
    synchronous: bool = False  # provision in the calling thread (the deployer's unit tests)
    provision: object = None  # (backend, config name) -> a loaded model; default: MLflow's

    def register(self, function: Function):
        self.functions[function.arn] = function

    def model_for(self, account, region, endpoint):
        entry = self.hosted.get((account, region, endpoint))
        return entry[1] if entry else None


_hosting = []


def hosting() -> Hosting:
    return _hosting[0]


def install(endpoint_url: str, folder, synchronous: bool = False, provision=None) -> Hosting:
    """Apply the mends (once per process) and return the hosting they feed from now on (a
    new one each call: a new sandbox, or a test's own)."""
    h = Hosting(endpoint_url=endpoint_url, folder=Path(folder), synchronous=synchronous,
                provision=provision)
    h.folder.mkdir(parents=True, exist_ok=True)
    _hosting[:] = [h]
    if not _installed:
        _keep_the_account()
        _deliver_across_accounts()
        _deliver_to_lambda()
        _host_endpoints()
        _answer_invocations()
        _judge_serving_calls()
        _installed.append(True)
    return h


def _replace(owner, name, replacement):
    from .emulation import _replace as replace
    return replace(owner, name, replacement)


# --- EventBridge -----------------------------------------------------------------------------


def _keep_the_account():
    """moto's whole-event template (a target without an InputTransformer) leaves out the
    envelope's `account`, which EventBridge delivers and the status writer checks."""
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", ', 1)


def _deliver_across_accounts():
    from moto.events.models import EventsBackend, events_backends

    put = EventsBackend.put_events

    def put_events(self, events):
        entries = []
        verdicts = getattr(_verdicts, "entries", None)
        _verdicts.entries = None  # this request's alone: a rule's delivery inside has none
        if verdicts is not None and len(verdicts) != len(events):
            raise RuntimeError("the bus policies' verdicts do not match the request's entries")
        for number, entry in enumerate(events):
            if verdicts and verdicts[number]:
                code, message = verdicts[number]
                entries.append({"ErrorCode": code, "ErrorMessage": message})
                continue
            bus, backend = entry.get("EventBusName") or "", self
            if bus.startswith("arn:"):
                parts = bus.split(":")
                backend = events_backends[parts[4]][parts[3]]
            outer = getattr(_origin, "account", None)
            _origin.account = outer or self.account_id
            try:
                entries += put(backend, [entry])
            finally:
                _origin.account = outer
        return entries

    _replace(EventsBackend, "put_events", put_events)


def _deliver_to_lambda():
    from moto.events.models import Rule

    send = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        origin = getattr(_origin, "account", None)
        if origin:
            original_event = {**original_event, "account": origin}
        lambdas = [t for t in self.targets if t["Arn"].split(":")[2] == "lambda"]
        if lambdas and self.event_pattern.matches_event(original_event):
            for target in lambdas:
                if target.get("InputTransformer") or target.get("Input"):
                    raise NotImplementedError("the sandbox delivers whole events to Lambda")
                deliver(target["Arn"], copy.deepcopy(original_event))
        rest = [t for t in self.targets if t not in lambdas]
        if rest:
            with _lock:
                saved, self.targets = self.targets, rest
                try:
                    send(self, original_event, transform_input)
                finally:
                    self.targets = saved

    _replace(Rule, "send_to_targets", send_to_targets)


def session_of(role_arn: str, name: str, seconds: int = 3600) -> dict:
    """A session of `role_arn` as an AWS service gets one (Lambda, SageMaker)."""
    from moto.sts.models import sts_backends

    account = role_arn.split(":")[4]
    role = sts_backends[account]["global"].assume_role(
        "us-east-1", name, role_arn, None, seconds, None)
    return {"AccessKeyId": role.access_key_id, "SecretAccessKey": role.secret_access_key,
            "SessionToken": role.session_token}


def deliver(arn: str, event: dict):
    """EventBridge invoking a Lambda: asynchronously, retried twice on failure."""
    h = hosting()
    function = h.functions.get(arn)
    if function is None:
        log.warning("no function %s: event dropped", arn)
        return
    if h.synchronous:
        return invoke(function, event)
    threading.Thread(target=_invoke_with_retries, args=(function, event), daemon=True,
                     name=f"lambda-{arn.rsplit(':', 1)[-1]}").start()


def _invoke_with_retries(function, event):
    for delay in (0, *RETRY_DELAYS):
        time.sleep(delay)
        if invoke(function, event).returncode == 0:
            return


def invoke(function: Function, event: dict) -> Invocation:
    """Run the handler once, as the Lambda runtime would."""
    h = hosting()
    region = function.arn.split(":")[3]
    credentials = session_of(function.role_arn, function.arn.rsplit(":", 1)[-1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
                "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
                "AWS_ENDPOINT_URL": h.endpoint_url,
                "AWS_LAMBDA_FUNCTION_NAME": function.arn.rsplit(":", 1)[-1],
                **function.environment})
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run([sys.executable, "-m", "sandbox.lambda_runtime", function.handler],
                              input=json.dumps(event), capture_output=True, text=True, env=env,
                              timeout=function.timeout)
        result = Invocation(function.arn, event, done.returncode, done.stdout, done.stderr)
    except subprocess.TimeoutExpired as expired:
        result = Invocation(function.arn, event, -1, "", f"timed out: {expired}")
    with _lock:
        h.invocations.append(result)
    level = logging.INFO if result.returncode == 0 else logging.WARNING
    log.log(level, "lambda %s: %s %s", function.arn, result.returncode, result.errors[-2000:])
    return result


# --- SageMaker hosting -----------------------------------------------------------------------


def _host_endpoints():
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    create = SageMakerModelBackend.create_endpoint

    def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
        if endpoint_name in self.endpoints:
            raise ValidationError(message=f"Cannot create already existing endpoint "
                                          f"\"{self.endpoints[endpoint_name].arn}\".")
        endpoint = create(self, endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        _start(self, endpoint, endpoint_config_name, update=False)
        return endpoint

    def update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config=None):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint \"{endpoint_name}\".")
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint "
                                          f"\"{endpoint.arn}\".")
        self.describe_endpoint_config(endpoint_config_name)  # it must exist
        endpoint.endpoint_status, endpoint.failure_reason = "Updating", None
        endpoint.deployment_config = deployment_config
        _start(self, endpoint, endpoint_config_name, update=True)
        return endpoint

    def update_endpoint_action(self):
        endpoint = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName"),
            self._get_param("DeploymentConfig"))
        return ActionResult({"EndpointArn": endpoint.arn})

    delete = SageMakerModelBackend.delete_endpoint

    def delete_endpoint(self, endpoint_name):
        delete(self, endpoint_name)
        with _lock:
            hosting().hosted.pop((self.account_id, self.region_name, endpoint_name), None)

    add = SageMakerModelBackend.add_tags

    def add_tags(self, arn, tags):
        # SageMaker replaces a tag of the same key (moto appends another)
        resource = self._get_resource_from_arn(arn)
        keys = {t["Key"] for t in tags}
        resource.tags = [t for t in resource.tags if t["Key"] not in keys]
        return add(self, arn, tags)

    _replace(SageMakerModelBackend, "create_endpoint", create_endpoint)
    _replace(SageMakerModelBackend, "delete_endpoint", delete_endpoint)
    _replace(SageMakerModelBackend, "add_tags", add_tags)
    SageMakerModelBackend.update_endpoint = update_endpoint
    SageMakerResponse.update_endpoint = update_endpoint_action


def _start(backend, endpoint, config_name, update):
    h = hosting()
    if h.synchronous:
        return _provision(backend, endpoint, config_name, update)
    threading.Thread(target=_provision, args=(backend, endpoint, config_name, update),
                     daemon=True, name=f"endpoint-{endpoint.endpoint_name}").start()


def _provision(backend, endpoint, config_name, update):
    from moto.core.utils import utcnow

    h = hosting()
    try:
        model = (h.provision or load_model)(backend, config_name)
        reason = None
    except Exception as error:  # the container would not come up: any reason
        model, reason = None, f"{type(error).__name__}: {error}"[:1000]
        log.warning("endpoint %s: config %s did not come up: %s", endpoint.endpoint_name,
                    config_name, reason)
    with _lock:
        if backend.endpoints.get(endpoint.endpoint_name) is not endpoint:
            return  # deleted meanwhile
        if model is not None:
            h.hosted[(backend.account_id, backend.region_name, endpoint.endpoint_name)] = (
                config_name, model)
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint._process_production_variants(
                backend.endpoint_configs[config_name].production_variants)
            endpoint.endpoint_status = "InService"
        elif update:
            # blue/green: the new fleet never took traffic; the old one serves on
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = (f"Failed to update endpoint: the new configuration "
                                       f"{config_name} did not pass health checks and the "
                                       f"update was rolled back. {reason}")
        else:
            endpoint.endpoint_status, endpoint.failure_reason = "Failed", reason
        endpoint.last_modified_time = utcnow()
    _announce(backend, endpoint)


def _announce(backend, endpoint):
    """SageMaker's "SageMaker Endpoint State Change" on the account's default bus."""
    from moto.events.models import events_backends

    detail = {"EndpointName": endpoint.endpoint_name, "EndpointArn": endpoint.arn,
              "EndpointConfigName": endpoint.endpoint_config_name,
              "EndpointStatus": endpoint.endpoint_status,
              "Tags": {t["Key"]: t["Value"] for t in endpoint.tags}}
    if endpoint.failure_reason:
        detail["FailureReason"] = endpoint.failure_reason
    events_backends[backend.account_id][backend.region_name].put_events([{
        "Source": STATE_CHANGE_SOURCE, "DetailType": STATE_CHANGE, "Detail": json.dumps(detail),
        "Resources": [endpoint.arn]}])


def load_model(backend, config_name):
    """What MLflow's serving container does when SageMaker starts it: the model's data under
    /opt/ml/model (copied by SageMaker with the model's execution role), loaded as a pyfunc."""
    import boto3
    import mlflow.pyfunc

    h = hosting()
    config = backend.endpoint_configs[config_name]
    [variant] = config.production_variants
    model = backend._models[variant["ModelName"]]
    container = model.primary_container
    environment = container.get("Environment") or {}
    if environment.get("MLFLOW_DEPLOYMENT_FLAVOR_NAME") != "python_function":
        raise ValueError("MLflow's container serves the python_function flavor only")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    uri = source.get("S3Uri")
    if not uri or source.get("S3DataType") != "S3Prefix" or \
            source.get("CompressionType") != "None":
        raise ValueError("the sandbox serves an uncompressed S3 prefix (ModelDataSource)")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    credentials = session_of(model.execution_role_arn, "SageMaker")
    s3 = boto3.client("s3", endpoint_url=h.endpoint_url, region_name=backend.region_name,
                      aws_access_key_id=credentials["AccessKeyId"],
                      aws_secret_access_key=credentials["SecretAccessKey"],
                      aws_session_token=credentials["SessionToken"])
    target = Path(tempfile.mkdtemp(prefix=f"{config_name}-", dir=h.folder)) / "model"
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix):].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            count += 1
    if not count:
        raise FileNotFoundError(f"nothing under {uri}")
    return mlflow.pyfunc.load_model(str(target))


def _answer_invocations():
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    def invoke_endpoint(self):
        from mlflow.pyfunc.scoring_server import invocations

        name = self._get_params().get("EndpointName") or self.path.split("/")[2]
        model = hosting().model_for(self.current_account, self.region, name)
        if model is None:
            body = json.dumps({"__type": "ValidationError",
                               "message": f"Endpoint {name} of account {self.current_account} "
                                          "not found."})
            return 400, {"Content-Type": "application/json", "status": 400}, body
        data = self.body.decode() if isinstance(self.body, bytes) else self.body
        content_type = self.headers.get("Content-Type") or "application/json"
        result = invocations(data, content_type, model, model.metadata.get_input_schema())
        if result.status != 200:
            body = json.dumps({"__type": "ModelError", "message": "Received client error "
                               f"({result.status}) from the model", "OriginalStatusCode":
                               result.status, "OriginalMessage": result.response})
            return 424, {"Content-Type": "application/json", "status": 424}, body
        return 200, {"Content-Type": result.mimetype,
                     "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, result.response

    _replace(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


# --- IAM -------------------------------------------------------------------------------------

_BY_NAME = {
    "model": ("ModelName", ("CreateModel", "DescribeModel", "DeleteModel")),
    "endpoint-config": ("EndpointConfigName", ("CreateEndpointConfig",
                                               "DescribeEndpointConfig",
                                               "DeleteEndpointConfig")),
    "endpoint": ("EndpointName", ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint",
                                  "DescribeEndpoint")),
}


def resource_of(service, action, params, path, account, region) -> str:
    """The ARN a sagemaker, events or cloudwatch call acts on, as IAM sees it ('*' if none)."""
    if service == "sagemaker":
        if action == "InvokeEndpoint":
            name = path.split("/")[2] if path.startswith("/endpoints/") else ""
            return f"arn:aws:sagemaker:{region}:{account}:endpoint/{name.lower()}"
        for kind, (param, actions) in _BY_NAME.items():
            if action in actions and params.get(param):
                return f"arn:aws:sagemaker:{region}:{account}:{kind}/{params[param].lower()}"
        if params.get("ResourceArn"):
            return params["ResourceArn"]
    if service == "events" and action == "PutEvents":
        buses = {(e.get("EventBusName") or "default") for e in params.get("Entries", [])}
        if len(buses) == 1:
            bus = buses.pop()
            return bus if bus.startswith("arn:") else \
                f"arn:aws:events:{region}:{account}:event-bus/{bus}"
    if service == "monitoring":
        names = params.get("AlarmNames") or [params.get("AlarmName")]
        if len(names) == 1 and names[0]:
            return f"arn:aws:cloudwatch:{region}:{account}:alarm:{names[0]}"
    return "*"


def _params(request) -> dict:
    body = request._body
    if isinstance(body, (bytes, bytearray)):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            return _cbor(body) or dict(request._data or {})
    if isinstance(body, str) and body.startswith("{"):
        return json.loads(body)
    return dict(request._data or {})


def _cbor(body) -> dict:
    """CloudWatch's requests (botocore sends RPC v2 CBOR): decoded with botocore's parser."""
    import io

    from botocore.parsers import RpcV2CBORParser

    try:
        parsed = RpcV2CBORParser().parse_data_item(io.BytesIO(bytes(body)))
    except Exception:  # not CBOR: no parameters known
        return {}
    return parsed if isinstance(parsed, dict) else {}


def bus_policy_verdicts(entries, context, account, region) -> list:
    """For each PutEvents entry, None if its bus takes it from this sender, else the entry's
    (ErrorCode, ErrorMessage): a bus's resource policy must allow another account's sender
    (the sender's own identity policy has already allowed the call), and its explicit Deny
    refuses anyone. `context`: the sender's IAM context (aws:PrincipalArn and tags); `account`:
    the sender's."""
    from moto.events.models import events_backends

    from roles.policy_eval import ALLOW, DENY, evaluate

    verdicts = []
    for entry in entries:
        bus = entry.get("EventBusName") or "default"
        if not bus.startswith("arn:"):
            bus = f"arn:aws:events:{region}:{account}:event-bus/{bus}"
        parts = bus.split(":")
        found = events_backends[parts[4]][parts[3]].event_buses.get(bus.split("/", 1)[-1])
        policies = [json.loads(found.policy)] if found is not None and found.policy else []
        entry_context = {**context, "aws:PrincipalAccount": account,
                         "events:source": entry.get("Source"),
                         "events:detail-type": entry.get("DetailType")}

        def decision(source):
            return evaluate(policies, "events:PutEvents", bus,
                            {**entry_context, "events:source": source},
                            principal=context["aws:PrincipalArn"])

        verdict = decision(entry.get("Source"))
        if verdict == ALLOW or (verdict != DENY and parts[4] == account):
            verdicts.append(None)
        elif any(decision(source) == ALLOW for source in _sources_named(policies)):
            verdicts.append(("NotAuthorizedForSourceException",
                             f"Not authorized for the source {entry.get('Source')!r} on {bus}."))
        else:
            verdicts.append(("AccessDeniedException",
                             f"{context['aws:PrincipalArn']} is not authorized to perform: "
                             f"events:PutEvents on resource: {bus} because no resource-based "
                             "policy allows the events:PutEvents action"))
    return verdicts


def _sources_named(policies) -> list:
    """Every `events:source` value a policy's conditions name (to tell a refused source from a
    refused sender)."""
    named = []
    for policy in policies:
        statements = policy["Statement"]
        for statement in [statements] if isinstance(statements, dict) else statements:
            for tests in (statement.get("Condition") or {}).values():
                values = tests.get("events:source")
                named += [values] if isinstance(values, str) else list(values or [])
    return named


def _judge_serving_calls():
    from moto.iam.access_control import IAMPolicy, IAMRequestBase

    from roles.policy_eval import ALLOW, evaluate

    from .emulation import _principal_context

    check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self, resource):
        service, _, action = self._action.partition(":")
        if service not in JUDGED_SERVICES:
            return check(self, resource)
        account = getattr(self._access_key, "account_id", self.account_id)
        arn = resource_of(service, action, _params(self), self._path, account, self._region)
        documents = [IAMPolicy(p)._policy_json for p in self._access_key.collect_policies()]
        iam_action = f"cloudwatch:{action}" if service == "monitoring" else self._action
        context = _principal_context(self._access_key)
        if evaluate(documents, iam_action, arn, context) != ALLOW:
            self._raise_access_denied()
        if self._action == "events:PutEvents":
            _verdicts.entries = bus_policy_verdicts(
                _params(self).get("Entries") or [], context, account, self._region)

    _replace(IAMRequestBase, "check_action_permitted", check_action_permitted)


# --- the stacks' serving resources, seeded as they declare them ------------------------------

KEY_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"  # the sandbox's bucket has no KMS key


def lambda_arn(region, account, name) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def seed(aws, api_url: str, folder) -> dict:
    """What the central stack (the status writer, the central bus and its rules per team) and
    each team stack (its bus, the deployer, its roles and rules; an application's role that
    invokes the team's endpoints) declare for serving, into moto: returns {team: the state
    file's `serving` of that team}. Runs while seeding (IAM not enforced yet)."""
    from deployer.build import DEPLOYER_HANDLER, STATUS_WRITER_HANDLER, write_data
    from spec.accounts import role_arn
    from spec.config import MLFLOW_IMAGE_TAG
    from spec.registry_events import (
        EVENT_BUS_NAME,
        STATUS_WRITER_ROLE_NAME,
        deployer_role_name,
        serving_role_name,
    )
    from spec.serving import (
        deploy_rule_pattern,
        deployer_environment,
        deployer_policy,
        invoke_policy,
        lambda_trust_policy,
        serving_role_policy,
        serving_trust_policy,
        state_change_pattern,
        status_rule_pattern,
        status_writer_policy,
    )

    from .aws import BUCKET, api_arn

    plan, region, central = aws.plan, aws.plan.region, aws.plan.central_account
    h = hosting()
    central_events, central_iam = aws.client("events"), aws.client("iam")
    # The central bus, and the tracking server's right to put the registry's events on it, are
    # sandbox/aws.py's _seed_registry_events' (seeded before this), as the central stack's
    # components/registry_events.py deploys them.
    # the central status writer
    logs = f"arn:aws:logs:{region}:{central}:log-group:/aws/lambda/{STATUS_WRITER_ROLE_NAME}"
    writer_role = central_iam.create_role(
        RoleName=STATUS_WRITER_ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(lambda_trust_policy(central)))["Role"]["Arn"]
    central_iam.put_role_policy(RoleName=STATUS_WRITER_ROLE_NAME, PolicyName="status",
                                PolicyDocument=json.dumps(status_writer_policy(
                                    api_arn(plan), logs)))
    data = write_data({t.name: t.account_id for t in plan.teams}, Path(folder) / "status-writer")
    writer = lambda_arn(region, central, STATUS_WRITER_ROLE_NAME)
    h.register(Function(writer, STATUS_WRITER_HANDLER, writer_role,
                        {"API_URL": api_url, "STATUS_WRITER_DATA": str(data)}))
    _rule(central_events, "mlflow-deployment-status", EVENT_BUS_NAME, status_rule_pattern(),
          writer)
    serving = {}
    sts = aws.client("sts")
    for team in plan.teams:
        account, name = team.account_id, team.name
        admin = sts.assume_role(RoleArn=role_arn(account, "seed"),
                                RoleSessionName="seed-serving")["Credentials"]
        iam, events = aws.client("iam", **admin), aws.client("events", **admin)
        team_sts = aws.client("sts", **admin)
        # the team's one bus, and the central rule forwarding the team's events to it, are
        # the registry's (sandbox/aws.py, as components/registry_events.py): the deployer's
        # rule listens there
        tags = [{"Key": "mlflow-team", "Value": name}]
        repository = f"arn:aws:ecr:{region}:{account}:repository/{serving_role_name(name)}"
        serving_role = iam.create_role(
            RoleName=serving_role_name(name), Tags=tags,
            AssumeRolePolicyDocument=json.dumps(serving_trust_policy(account)))["Role"]["Arn"]
        iam.put_role_policy(RoleName=serving_role_name(name), PolicyName="endpoints",
                            PolicyDocument=json.dumps(serving_role_policy(
                                name, account, region, BUCKET,
                                f"arn:aws:kms:{region}:{central}:key/{KEY_PLACEHOLDER}",
                                repository)))
        key = f"arn:aws:kms:{region}:{account}:key/{KEY_PLACEHOLDER}"
        function_name = deployer_role_name(name)
        deployer_role = iam.create_role(
            RoleName=function_name, Tags=tags,
            AssumeRolePolicyDocument=json.dumps(lambda_trust_policy(account)))["Role"]["Arn"]
        iam.put_role_policy(RoleName=function_name, PolicyName="deployer",
                            PolicyDocument=json.dumps(deployer_policy(
                                name, account, region, central, key,
                                f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/"
                                f"{function_name}")))
        deployer = lambda_arn(region, account, function_name)
        image = (f"{account}.dkr.ecr.{region}.amazonaws.com/{serving_role_name(name)}:"
                 f"{MLFLOW_IMAGE_TAG}")
        h.register(Function(deployer, DEPLOYER_HANDLER, deployer_role, deployer_environment(
            name, account, region, central, team.deploy_alias, image_uri=image,
            execution_role_arn=serving_role, key_arn=key)))
        _rule(events, f"mlflow-{name}-promotions", EVENT_BUS_NAME,
              deploy_rule_pattern(name, team.deploy_alias), deployer)
        _rule(events, f"mlflow-{name}-endpoint-states", "default", state_change_pattern(name),
              deployer)
        # an application of the team's: may invoke the team's endpoints, nothing else
        invoker = f"mlflow-{name}-invoker"
        invoker_arn = iam.create_role(
            RoleName=invoker, MaxSessionDuration=12 * 3600,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        iam.put_role_policy(RoleName=invoker, PolicyName="invoke",
                            PolicyDocument=json.dumps(invoke_policy(name, account, region)))
        session = team_sts.assume_role(RoleArn=invoker_arn, RoleSessionName="application",
                                       DurationSeconds=12 * 3600)["Credentials"]
        serving[name] = {
            "deploy_alias": team.deploy_alias, "deployer_function_arn": deployer,
            "serving_role_arn": serving_role,
            "invoker": {"role_arn": invoker_arn, "credentials": {
                **{k: session[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
                "Expiration": session["Expiration"].isoformat()}}}
    return serving


def _rule(events, name, bus, pattern, target):
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "target", "Arn": target}])
