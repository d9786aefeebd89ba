"""The CNI plugin's kernel work, served by the daemon on a root-only Unix socket.

Placeholder: the CNI work fills this module in. The daemon calls
`start_cni_server` once its lease and VTEP are ready and `close()` on exit.
"""


class _NoCniServer:
    def close(self) -> None:
        pass


def start_cni_server(config, network_info):
    """Serve CNI requests on `config.cni_socket` in a background thread.

    `config` is the DaemonConfig; `network_info()` returns the host's
    current `(overlay_subnet, mtu)`. Returns an object with `close()`.
    """
    return _NoCniServer()
