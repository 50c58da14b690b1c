# Built into llama-cpp-python (the Makefile's real-server test environment) through
# CMAKE_PROJECT_llama.cpp_INCLUDE: CMake includes this file right after llama.cpp's own
# project() call. llama-cpp-python loads only libllama and ggml, yet turns llama.cpp's
# `common` library on (and with it cpp-httplib): about half of the compile, for nothing its
# server loads. With -DLLAVA_BUILD=OFF (no libmtmd, for images) the build took 134 s instead
# of 345 s on 2 cores.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
