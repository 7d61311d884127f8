"""The S3 media storage: django-storages' backend, signing URLs for the endpoint browsers reach.

Inside a compose network the platform reaches MinIO at ``http://minio:9000``; a participant's
browser cannot. A presigned URL signs its host, so it cannot be rewritten afterwards: with
``MEDIA_PUBLIC_ENDPOINT_URL`` set, URLs are signed by a second client for that endpoint (the
proxy in front of the store must pass the ``Host`` header on unchanged).
"""

from __future__ import annotations

import threading
from typing import Any

from storages.backends.s3 import S3Storage
from storages.utils import clean_name

_SIGNER_LOCK = threading.Lock()


class MediaStorage(S3Storage):
    def __init__(self, *, public_endpoint_url: str | None = None, **options: Any) -> None:
        self.public_endpoint_url = public_endpoint_url or None
        self._signer: Any = None
        super().__init__(**options)

    def _public_client(self) -> Any:
        with _SIGNER_LOCK:
            if self._signer is None:
                session = self._create_session()
                self._signer = session.client(
                    "s3",
                    region_name=self.region_name,
                    endpoint_url=self.public_endpoint_url,
                    config=self.client_config,
                    verify=self.verify,
                )
            return self._signer

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        if not self.public_endpoint_url or self.public_endpoint_url == self.endpoint_url:
            return str(super().url(name, parameters, expire, http_method))
        params = {**(parameters or {}), "Bucket": self.bucket_name}
        params["Key"] = self._normalize_name(clean_name(name))
        return str(
            self._public_client().generate_presigned_url(
                "get_object",
                Params=params,
                ExpiresIn=self.querystring_expire if expire is None else expire,
                HttpMethod=http_method,
            )
        )
