"""A second, independent xDS client: gRPC C-core through Debian's python3-grpcio.

Usage: xds_client.py TARGET COUNT [HEADER=VALUE]
Reads the xDS bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG, calls /test.Who/Name
COUNT times and prints {"backend": count, ...} as JSON.
"""
import json
import sys

import grpc


def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    metadata = []
    if len(sys.argv) > 3:
        key, value = sys.argv[3].split("=", 1)
        metadata.append((key, value))
    counts: dict = {}
    with grpc.insecure_channel(target) as channel:
        who = channel.unary_unary("/test.Who/Name")
        for _ in range(count):
            name = who(b"", metadata=metadata, timeout=10, wait_for_ready=True).decode()
            counts[name] = counts.get(name, 0) + 1
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
