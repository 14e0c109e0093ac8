# Minimal x86_64 device set for CXL Type 3 DCD work (dcd-broker).
# Copied into configs/devices/x86_64-softmmu/ by qemu/build.sh.
CONFIG_Q35=y
CONFIG_PCIE_PORT=y
CONFIG_PXB=y
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
