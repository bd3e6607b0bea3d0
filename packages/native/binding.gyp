{
  "targets": [
    {
      "target_name": "virq_native",
      "sources": [
        "cpp/addon.cc",
        "cpp/errors.cc",
        "cpp/eventfd.cc",
        "cpp/epoll.cc",
        "cpp/counter-ring.cc",
        "cpp/vfio.cc",
        "cpp/mem.cc",
        "cpp/iommu.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
