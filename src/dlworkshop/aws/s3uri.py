"""s3://bucket/key addresses: read and write them with the standard credential chain.

Used inside the workshop's ECS tasks (the task role's credentials) as much as on the
learner's machine, so it takes a plain boto3 S3 client and knows nothing of targets.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dlworkshop.errors import UserError

SCHEME = "s3://"
MAX_OBJECT = 200 * 1024 * 1024  # larger objects are not photos or datasets of this workshop


def is_s3(text: str) -> bool:
    return text.startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// address."""
    if not is_s3(uri):
        raise UserError(f"{uri!r} is not an S3 address; write it as s3://bucket/prefix/.")
    bucket, _, key = uri[len(SCHEME):].partition("/")
    if not bucket:
        raise UserError(f"{uri!r} names no bucket; write it as s3://bucket/prefix/.")
    return bucket, key


def client() -> Any:
    """An S3 client from the standard chain (in an ECS task: its task role)."""
    import boto3

    return boto3.client("s3")


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def check_bucket(s3: Any, bucket: str) -> None:
    """Raise a clear UserError when the bucket does not exist or cannot be reached."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise UserError(f"The bucket {bucket} does not exist: check the name (`dlworkshop "
                            "stack status` lists the stack's buckets).") from None  # fmt: skip
        if code in ("403", "AccessDenied"):
            raise UserError(f"Access to the bucket {bucket} is denied to these credentials "
                            "(in a task: its task role).") from None  # fmt: skip
        raise UserError(f"The bucket {bucket} could not be reached: {exc}") from None
    except BotoCoreError as exc:
        raise UserError(f"S3 could not be reached: {exc}. Give AWS credentials (a profile or "
                        "the standard chain); in an ECS job the task role gives them.") from None


def keys(s3: Any, uri: str) -> Iterator[dict]:
    """Every object under an s3:// prefix, as list_objects_v2 describes it."""
    bucket, prefix = split(uri)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def upload_folder(s3: Any, folder: Path, uri: str, last: str = "",
                  progress: Callable[[str, int], None] = lambda key, size: None) -> list[str]:
    """Every file of `folder` under the s3:// prefix; `last` (a file name) goes up after all
    the others, so that its presence means the rest is complete."""
    bucket, prefix = split(uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == last)  # stable: the marker moves to the end
    written = []
    for path in files:
        key = prefix + path.relative_to(folder).as_posix()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": kind})
        progress(key, path.stat().st_size)
        written.append(key)
    return written


def download_prefix(s3: Any, uri: str, folder: Path, suffixes: set[str] | None = None,
                    progress: Callable[[str, int], None] = lambda key, size: None,
                    ) -> dict[Path, str]:  # fmt: skip
    """Objects under the prefix into `folder` (keeping their relative paths); returns each
    local file's key. Objects too large, or without one of `suffixes`, are left."""
    bucket, prefix = split(uri)
    got: dict[Path, str] = {}
    for obj in keys(s3, uri):
        key = obj["Key"]
        relative = key[len(prefix):].lstrip("/") or Path(key).name
        if key.endswith("/") or ".." in Path(relative).parts:
            continue
        if suffixes is not None and Path(key).suffix.lower() not in suffixes:
            continue
        if obj.get("Size", 0) > MAX_OBJECT:
            continue
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        progress(key, obj.get("Size", 0))
        got[target] = key
    return got


def put_json(s3: Any, uri: str, body: Any) -> None:
    """One JSON object (S3 writes it whole or not at all)."""
    bucket, key = split(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2).encode(),
                  ContentType="application/json")  # fmt: skip


def get_json(s3: Any, uri: str) -> Any:
    bucket, key = split(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
