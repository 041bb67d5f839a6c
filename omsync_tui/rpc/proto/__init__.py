"""brpc's baidu_std RpcMeta (``baidu_rpc_meta.proto``) and its generated module; see tools/gen_protos.py."""
