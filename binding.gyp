{
  "targets": [
    {
      "target_name": "what_the_fork",
      "sources": [
        "native/posix/sockets.cc",
        "native/posix/process.cc",
        "native/posix/fork.cc",
        "native/posix/signals.cc",
        "native/posix/blocking.cc",
        "native/posix/nowait.cc",
        "native/posix/fdpass.cc",
        "native/binding/binding.cc",
        "native/binding/args.cc",
        "native/binding/sockets.cc",
        "native/binding/process.cc",
        "native/binding/signals.cc",
        "native/binding/loop.cc",
        "native/binding/constants.cc",
        "native/binding/poll.cc",
        "native/binding/nowait.cc",
        "native/binding/fdpass.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-Wl,-z,now"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
