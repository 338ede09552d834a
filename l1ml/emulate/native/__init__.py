"""A compiled emulation kernel: the emulator's integer arithmetic as generated C++, built with g++ and
checked bit for bit against the numpy emulator before use (kernel.py); the C++ comes from the ops'
`native` descriptions (codegen.py)."""
