"""The one-port RPC layer: baidu_std and HTTP/1.1 on one TCP port (DESIGN §2), and its clients.

    framing     baidu_std frames and brpc's error codes (pure bytes in, bytes out)
    service     Service / ServiceRegistry (methods written once), Routes (plain HTTP), CallContext
    server      RpcServer: accepts, sniffs PRPC vs HTTP, runs handlers in a worker pool
    baidu_conn  one baidu_std connection;  http_conn  one HTTP connection (h11)
    conn        Connection, and CallHost: the part of RpcServer those two may use
    dispatch    decode → handler → encode in a worker, errors mapped to brpc codes / HTTP statuses
    jsoncodec   messages as JSON the way brpc-java shows them
    client      BaiduStdClient, HttpJsonClient; failures raise the RpcError family (core.errors)

Nothing here imports textual, typer or pyarrow: the collector uses it on tablet hosts.
"""
