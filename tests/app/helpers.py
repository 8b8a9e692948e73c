"""Helpers shared by the backend's tests (uploads, sample photos, moto resources)."""

from __future__ import annotations

import io
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from flask.testing import FlaskClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
IMAGES = ROOT / "test_images"
TABLE = "passport-validations"
BUCKET = "passport-photos-test"
REGION = "us-east-1"

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))


@lru_cache(maxsize=1)
def boto_session() -> boto3.session.Session:
    """One session for the tests' own clients (new sessions reload the service models)."""
    return boto3.session.Session()


def aws_client(service: str) -> Any:
    """A boto3 client in the test region."""
    return boto_session().client(service, region_name=REGION)  # type: ignore[call-overload]


def create_resources(
    table: bool = True, bucket: bool = True, endpoint_url: str | None = None
) -> None:
    """The validations table (the stack's key schema) and the photo bucket, in moto: the
    in-process mock, or the moto server at ``endpoint_url`` (with moto's fake keys)."""

    def client(service: str) -> Any:
        if endpoint_url is None:
            return aws_client(service)
        return boto_session().client(  # type: ignore[call-overload]
            service,
            region_name=REGION,
            endpoint_url=endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )

    if table:
        client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    if bucket:
        client("s3").create_bucket(Bucket=BUCKET)


def upload(
    client: FlaskClient,
    data: bytes,
    path: str = "/api/v1/photos",
    name: str = "photo.jpg",
    media_type: str = "image/jpeg",
    **fields: str,
) -> Any:
    """POST `data` as the multipart `photo` field (plus other form fields)."""
    form: dict[str, Any] = {"photo": (io.BytesIO(data), name, media_type), **fields}
    return client.post(path, data=form, content_type="multipart/form-data")


def image_bytes(path: str) -> bytes:
    """Bytes of a sample photo in test_images/."""
    return (IMAGES / path).read_bytes()


def decode(data: bytes) -> tuple[str, str, np.ndarray[Any, Any]]:
    """(format, mode, pixels) of an image."""
    with Image.open(io.BytesIO(data)) as image:
        return image.format or "", image.mode, np.asarray(image)
