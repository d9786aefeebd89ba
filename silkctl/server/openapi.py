"""The OpenAPI 3.0 documents of the controller and daemon APIs, served at
`GET /openapi.json`; `tests/server/test_openapi.py` keeps them in step with
the routes the Bottle apps really have."""

from silkctl import __version__

_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A host's unicast address: first octet 1-223 but not 127, so no 0.0.0.0/8,
# loopback, multicast, 240.0.0.0/4 or broadcast (silkctl.leaser refuses them).
_UNICAST_FIRST = "(22[0-3]|2[01][0-9]|1[01][0-9]|12[0-689]|1[3-9][0-9]|[1-9][0-9]?)"
IPV4 = {
    "type": "string",
    "format": "ipv4",
    "pattern": f"^{_UNICAST_FIRST}(\\.{_OCTET}){{3}}$",
    "description": "unicast IPv4 address of the host on the underlay network",
    "example": "10.0.16.5",
}
CIDR = {"type": "string", "example": "10.255.30.0/24"}
MAC = {"type": "string", "example": "ee:ee:0a:ff:1e:00"}

LEASE = {
    "type": "object",
    "required": ["underlay_ip", "overlay_subnet", "overlay_hardware_addr"],
    "properties": {
        "underlay_ip": IPV4,
        "overlay_subnet": CIDR,
        "overlay_hardware_addr": MAC,
    },
}
LEASE_ROW = {
    "type": "object",
    "required": ["underlay_ip", "overlay_subnet", "overlay_hardware_addr"],
    "properties": {
        **LEASE["properties"],
        "last_renewed_at": {"type": "integer"},
        "expired": {"type": "boolean"},
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
EMPTY = {"type": "object", "maxProperties": 0}


def _json(schema: dict, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _errors(*codes: int) -> dict:
    reasons = {
        400: "malformed request",
        404: "unknown path",
        405: "wrong method",
        409: "conflict (no lease available; on renew: invalid lease, lease mismatch)",
        413: "body over 64 KiB",
        500: "server or database failure",
        503: "database unavailable",
    }
    return {
        str(code): _json({"$ref": "#/components/schemas/Error"}, reasons[code])
        for code in codes
    }


def _body(schema_ref: str) -> dict:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_ref}"}
            }
        },
    }


def controller_document() -> dict:
    """OpenAPI document of the lease API (`/leases*`)."""
    bad = (400, 413, 500, 503)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "silkctl controller",
            "version": __version__,
            "description": "Leases one overlay subnet per host.",
        },
        "paths": {
            "/leases": {
                "get": {
                    "summary": "List routable leases (ETag; 304 when unchanged).",
                    "parameters": [
                        {
                            "name": "If-None-Match",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "all",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "enum": ["1", "true", "yes", "0", "false", "no"],
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["leases"],
                                "properties": {
                                    "leases": {
                                        "type": "array",
                                        "items": {
                                            "$ref": "#/components/schemas/LeaseRow"
                                        },
                                    },
                                    "now": {"type": "integer"},
                                    "lease_expiration_seconds": {"type": "integer"},
                                    "summary": {
                                        "type": "object",
                                        "properties": {
                                            "total": {"type": "integer"},
                                            "free": {"type": "integer"},
                                            "stale": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                            "routable leases",
                        ),
                        "304": {"description": "unchanged since the ETag given"},
                        **_errors(400, 500, 503),
                    },
                }
            },
            "/leases/acquire": {
                "put": {
                    "summary": "Acquire (or get back) the lease of a host.",
                    "requestBody": _body("AcquireRequest"),
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/Lease"}, "the host's lease"
                        ),
                        **_errors(*bad, 409),
                    },
                }
            },
            "/leases/renew": {
                "put": {
                    "summary": "Renew a lease (inserted when absent).",
                    "requestBody": _body("Lease"),
                    "responses": {"200": _json(EMPTY, "renewed"), **_errors(*bad, 409)},
                }
            },
            "/leases/release": {
                "put": {
                    "summary": "Release a host's lease (no error when absent).",
                    "requestBody": _body("ReleaseRequest"),
                    "responses": {"200": _json(EMPTY, "released"), **_errors(*bad)},
                }
            },
        },
        "components": {
            "schemas": {
                "Lease": LEASE,
                "LeaseRow": LEASE_ROW,
                "Error": ERROR,
                "AcquireRequest": {
                    "type": "object",
                    "required": ["underlay_ip"],
                    "properties": {
                        "underlay_ip": IPV4,
                        "single_overlay_ip": {"type": "boolean", "nullable": True},
                    },
                },
                "ReleaseRequest": {
                    "type": "object",
                    "required": ["underlay_ip"],
                    "properties": {"underlay_ip": IPV4},
                },
            }
        },
    }


def log_level_path() -> dict:
    """`GET`/`PUT /log-level` of the localhost listeners."""
    level = _json(
        {
            "type": "object",
            "required": ["level"],
            "properties": {"level": {"type": "string"}},
        },
        "the silkctl log level now",
    )
    return {
        "get": {"summary": "The log level.", "responses": {"200": level}},
        "put": {
            "summary": "Set the log level (debug, info, warning, error).",
            "requestBody": {
                "required": True,
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "responses": {"200": level, **_errors(400)},
        },
    }


def daemon_document() -> dict:
    """OpenAPI document of the daemon's local endpoint."""
    info = _json(
        {
            "type": "object",
            "required": ["overlay_subnet", "mtu"],
            "properties": {"overlay_subnet": CIDR, "mtu": {"type": "integer"}},
        },
        "this host's subnet and MTU",
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "silkctl daemon",
            "version": __version__,
            "description": "This host's lease and MTU, for silk-cni.",
        },
        "paths": {
            "/": {"get": {"summary": "Network info.", "responses": {"200": info}}},
            "/health": {
                "get": {"summary": "Health (same answer).", "responses": {"200": info}}
            },
            "/log-level": log_level_path(),
        },
        "components": {"schemas": {}},
    }
