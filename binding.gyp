{
  "targets": [
    {
      "target_name": "pmap_native",
      "sources": ["native/engine.c", "native/tcp.c", "native/icmp.c", "native/syn.c", "native/pipe-watch.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lpthread"]
    }
  ]
}
