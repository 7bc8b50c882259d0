"""The sandbox's ECR: moto's records backed by the sandbox's real registry.

moto's ECR hands out a token for a registry that does not exist and never sees a push.
This agent points get_authorization_token's proxyEndpoint at the sandbox's registry (so
a client logs in and pushes there exactly as it would to ECR), reads the registry before
moto answers a question about a repository's images (so a push shows up at once, as on
ECR), and deletes from the registry what is deleted from moto's ECR.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from dlworkshop.sandbox.agent import Agent
from dlworkshop.sandbox.registry import MISSING

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
TIMEOUT = 30


class EcrAgent(Agent):
    """Wraps moto's ECR; has no loop of its own."""

    name = "ecr"

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self._originals: list[tuple[Any, str, Callable]] = []
        self.synced = 0

    def sync(self) -> None:
        return None

    def status(self) -> dict:
        return {**super().status(), "registry": self.runtime.registry or None,
                "images_recorded": self.synced}  # fmt: skip

    def _patch(self, owner: Any, name: str, wrapper: Callable[[Callable], Callable]) -> None:
        original = getattr(owner, name)
        self._originals.append((owner, name, original))
        setattr(owner, name, functools.wraps(original)(wrapper(original)))

    def start(self) -> None:
        from moto.ecr.models import ECRBackend
        from moto.ecr.responses import ECRResponse

        self._patch(ECRResponse, "get_authorization_token", self._token)
        for name in ("describe_images", "list_images", "batch_get_image"):
            self._patch(ECRBackend, name, self._synced)
        self._patch(ECRBackend, "batch_delete_image", self._deleting_images)
        self._patch(ECRBackend, "delete_repository", self._deleting_repository)

    def stop(self) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)

    # ---- the registry's HTTP API ---------------------------------------------------------
    def _request(self, account: str, path: str, method: str = "GET",
                 accept: str = "") -> tuple[dict, bytes]:  # fmt: skip
        """One call to the registry with the account's ECR credentials: (headers, body)."""
        token = base64.b64encode(f"AWS:{account}-auth-token".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        if accept:
            headers["Accept"] = accept
        request = urllib.request.Request(f"http://{self.runtime.registry}{path}",
                                         headers=headers, method=method)  # fmt: skip
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return dict(response.headers), response.read()

    def _tags(self, account: str, repository: str) -> list[str]:
        try:
            _, body = self._request(account, f"/v2/{repository}/tags/list")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # nothing pushed to it yet
                return []
            raise
        return json.loads(body).get("tags") or []

    def sync_repository(self, backend: Any, repository: str) -> None:
        """Record in moto every tag the registry has and moto does not, as ECR would."""
        if not self.runtime.registry or repository not in backend.repositories:
            return
        known = {(t, i.get_image_digest()) for i in backend.repositories[repository].images
                 for t in i.image_tags}  # fmt: skip
        for tag in self._tags(backend.account_id, repository):
            headers, body = self._request(backend.account_id, f"/v2/{repository}/manifests/{tag}",
                                          accept=", ".join(MANIFEST_TYPES))  # fmt: skip
            digest = headers.get("Docker-Content-Digest", "")
            if (tag, digest) in known:
                continue
            media_type = headers.get("Content-Type", MANIFEST_TYPES[0]).split(";")[0]
            with contextlib.suppress(Exception):  # the same image under a tag it already has
                backend.put_image(repository, body.decode(), tag, media_type, digest)
                self.synced += 1

    def _delete_manifest(self, account: str, repository: str, digest: str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):  # already gone from the registry
            self._request(account, f"/v2/{repository}/manifests/{digest}", method="DELETE")

    # ---- the wrappers ----------------------------------------------------------------------
    def _token(self, original: Callable) -> Callable:
        agent = self

        def get_authorization_token(response: Any) -> Any:
            if not agent.runtime.registry:
                from moto.core.exceptions import JsonRESTError

                raise JsonRESTError("ServerException", agent.runtime.registry_note or MISSING)
            result = original(response)
            for data in result.result["authorizationData"]:
                data["proxyEndpoint"] = f"http://{agent.runtime.registry}"
            return result

        return get_authorization_token

    def _synced(self, original: Callable) -> Callable:
        agent = self

        def read(backend: Any, repository_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                agent.sync_repository(backend, repository_name)
                agent.problem = ""
            except (OSError, ValueError) as exc:  # answer from what moto has; say why
                agent.problem = f"the registry did not answer: {exc}"
            return original(backend, repository_name, *args, **kwargs)

        return read

    def _deleting_images(self, original: Callable) -> Callable:
        agent = self

        def batch_delete_image(backend: Any, repository_name: str, registry_id: Any = None,
                               image_ids: Any = None) -> Any:  # fmt: skip
            result = original(backend, repository_name, registry_id, image_ids)
            if agent.runtime.registry:
                for deleted in result.get("imageIds", []):
                    digest = getattr(deleted, "image_digest", None)  # moto's ImageId
                    if digest:
                        agent._delete_manifest(backend.account_id, repository_name, digest)
            return result

        return batch_delete_image

    def _deleting_repository(self, original: Callable) -> Callable:
        agent = self

        def delete_repository(backend: Any, repository_name: str, *args: Any,
                              **kwargs: Any) -> Any:  # fmt: skip
            digests = set()
            if repository_name in backend.repositories:
                digests = {i.get_image_digest() for i in backend.repositories[repository_name]
                           .images}  # fmt: skip
            result = original(backend, repository_name, *args, **kwargs)
            if agent.runtime.registry:
                for digest in digests:
                    agent._delete_manifest(backend.account_id, repository_name, digest)
            return result

        return delete_repository
