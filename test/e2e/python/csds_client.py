#!/usr/bin/env python3
"""CSDS FetchClientStatus over python3-grpcio (gRPC C-core), without generated stubs.

The request is an empty ClientStatusRequest (every node); the response is read
with a small protobuf wire reader: ClientStatusResponse.config (1) ->
ClientConfig.node (1).id (1) and generic_xds_configs (3).config_status (6).
Prints {node id: {config_status: count}} as JSON.
"""
import json
import sys

import grpc


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield num, val


def varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


def main():
    channel = grpc.insecure_channel(sys.argv[1])
    fetch = channel.unary_unary(
        "/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    response = fetch(b"", timeout=10)
    out = {}
    for num, config in fields(response):
        if num != 1:
            continue
        node_id, statuses = None, {}
        for n, v in fields(config):
            if n == 1:
                node_id = next(val.decode() for f, val in fields(v) if f == 1)
            elif n == 3:
                status = next((val for f, val in fields(v) if f == 6), 0)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        out[node_id] = statuses
    print(json.dumps(out))


if __name__ == "__main__":
    main()
