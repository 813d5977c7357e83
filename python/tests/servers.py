"""Real servers for the team-deployment tests and benchmark, on loopback and free ports.

* :class:`S3Server` -- moto's standalone S3-compatible server (``moto[server]``), a process;
* :class:`MetadataService` -- the Metaflow metadata service's HTTP API as the
  ``metaflow-local-service`` package serves it (uvicorn), a process; ``complete=True`` adds the
  one route that package lacks (see ``metadata_service.py``);
* :func:`team_profile` -- a Metaflow profile pointing at them, written the way a user configures
  Metaflow: ``~/.metaflowconfig/config_NAME.json`` and ``~/.aws/credentials`` in a temporary
  home, selected with ``METAFLOW_PROFILE``. The returned environment is what a kernel or
  ``python flow.py run`` of the test gets; this process's Metaflow configuration is left alone.

Every server is stopped by the context manager or fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ACCESS_KEY = "team-test-key"
SECRET_KEY = "team-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    """A port nothing listens on now (the server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}: {_output(proc)}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server for {url} did not answer within {timeout}s: {_output(proc)}")


def _output(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log", None)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


class ServerProcess:
    """A server process on ``127.0.0.1:port``; :meth:`stop` ends it (and only it)."""

    def __init__(self, argv: list[str], port: int, probe: str) -> None:
        self.argv, self.port, self.probe = argv, port, probe
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # the server's log goes to a file: a pipe nobody reads fills up and blocks the server
        log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop(), after the server)
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.proc.log = log  # type: ignore[attr-defined]
        _wait_for_http(self.url + self.probe, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.proc.log.close()  # type: ignore[attr-defined]
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class S3Server(ServerProcess):
    """moto's S3 server; :meth:`create_bucket` makes a bucket with the test credentials.

    ``authenticated``: the server checks every request's credentials and signature (moto's
    IAM authentication) once :meth:`start` has made an IAM user allowed everything and an
    access key for it (:attr:`access_key`, :attr:`secret_key`); other keys are refused.
    """

    BOOTSTRAP_ACTIONS = 4
    """Requests moto serves before it authenticates: the readiness probe and three IAM calls."""

    def __init__(self, port: int | None = None, authenticated: bool = False) -> None:
        port = port or free_port()
        super().__init__(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, "/"
        )
        self.authenticated = authenticated
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY
        if authenticated:
            self.env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(self.BOOTSTRAP_ACTIONS)}

    def start(self) -> None:
        super().start()
        if self.authenticated:
            try:
                self.access_key, self.secret_key = self.new_access_key(create_user=True)
            except BaseException:
                self.stop()  # __exit__ does not run when __enter__ fails
                raise

    def iam(self) -> Any:
        import boto3

        return boto3.client(
            "iam",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )

    def new_access_key(self, create_user: bool = False) -> tuple[str, str]:
        """A new access key of the test user (created, allowed everything, first)."""
        iam = self.iam()
        if create_user:
            iam.create_user(UserName="scientist")
            iam.put_user_policy(
                UserName="scientist",
                PolicyName="everything",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    }
                ),
            )
        key = iam.create_access_key(UserName="scientist")["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def create_batch_queue(self, name: str) -> str:
        """An AWS Batch job queue on a Fargate compute environment (what Metaflow's Step
        Functions compiler looks up); returns the IAM role ARN it uses."""
        import boto3

        kw = dict(
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )
        ec2 = boto3.client("ec2", **kw)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        role = boto3.client("iam", **kw).create_role(RoleName=name, AssumeRolePolicyDocument="{}")[
            "Role"
        ]["Arn"]
        batch = boto3.client("batch", **kw)
        env = batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            serviceRole=role,
            computeResources={
                "type": "FARGATE",
                "maxvCpus": 4,
                "subnets": [subnet],
                "securityGroupIds": [group],
            },
        )
        batch.create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[
                {"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}
            ],
        )
        return role


class MetadataService(ServerProcess):
    """metaflow-local-service on ``root`` (its ``.metaflow`` tree holds the metadata)."""

    def __init__(self, root: Path, port: int | None = None, complete: bool = True) -> None:
        port = port or free_port()
        argv = [
            sys.executable,
            str(HERE / "metadata_service.py"),
            "--port",
            str(port),
            "--root",
            str(root),
        ]
        super().__init__(argv + (["--complete"] if complete else []), port, "/ping")


@dataclass
class Team:
    """A team deployment for one test: the servers, the bucket and the user's environment."""

    s3: S3Server
    service: MetadataService | None
    bucket: str
    home: Path
    env: dict[str, str]

    @property
    def sysroot(self) -> str:
        return f"s3://{self.bucket}/metaflow"


def team_profile(
    home: Path,
    s3: S3Server,
    bucket: str,
    service: MetadataService | None,
    profile: str = "team",
    aws_endpoint: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Write a Metaflow profile (S3 datastore, the service's metadata when given, ``extra``
    settings) and AWS credentials (``aws_endpoint``: every AWS API at that URL) into ``home``;
    return the environment that selects them."""
    config = {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{bucket}/metaflow",
        "METAFLOW_S3_ENDPOINT_URL": s3.url,
        **(
            {"METAFLOW_DEFAULT_METADATA": "service", "METAFLOW_SERVICE_URL": service.url}
            if service
            else {}
        ),
        **extra,
    }
    (home / ".metaflowconfig").mkdir(parents=True, exist_ok=True)
    (home / ".metaflowconfig" / f"config_{profile}.json").write_text(json.dumps(config, indent=2))
    (home / ".aws").mkdir(exist_ok=True)
    write_credentials(home, s3.access_key, s3.secret_key)
    (home / ".aws" / "config").write_text(
        f"[default]\nregion = {REGION}\n"
        + (f"endpoint_url = {aws_endpoint}\n" if aws_endpoint else "")
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METAFLOW_", "AWS_")) and k not in ("JPY_SESSION_NAME",)
    }
    env.update(HOME=str(home), METAFLOW_PROFILE=profile, USER="tester", METAFLOW_USER="tester")
    return env


def write_credentials(home: Path, access_key: str, secret_key: str) -> None:
    """``~/.aws/credentials`` with the default profile's key, as ``aws configure`` writes it."""
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
    )


def client_view(env: dict[str, str], code: str, cwd: Path) -> Any:
    """Run ``code`` (which ends by assigning ``result``) in a fresh Python process with the
    user's environment, in ``namespace(None)``; return ``result`` (JSON)."""
    script = (
        "import json\nfrom metaflow import *\nnamespace(None)\n"
        + code
        + "\nprint('@@RESULT@@' + json.dumps(result, default=repr))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise AssertionError(f"client code failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.split("@@RESULT@@", 1)[1])


@contextlib.contextmanager
def team_deployment(
    tmp: Path,
    s3: S3Server,
    with_service: bool = True,
    complete_service: bool = True,
    **profile: Any,
) -> Iterator[Team]:
    """A fresh bucket on ``s3``, a fresh metadata service (when asked) and the profile
    (:func:`team_profile`'s keywords); the service is stopped after."""
    bucket = f"team-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    s3.create_bucket(bucket)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    service = MetadataService(tmp / "service", complete=complete_service) if with_service else None
    if service is not None:
        (tmp / "service").mkdir(exist_ok=True)
        service.start()
    try:
        yield Team(s3, service, bucket, home, team_profile(home, s3, bucket, service, **profile))
    finally:
        if service is not None:
            service.stop()
