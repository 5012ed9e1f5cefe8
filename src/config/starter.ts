/** The commented starter file written by `gpumod: Open Configuration` when none exists. It is valid as is. */
export const STARTER_CONFIG = `# gpumod configuration: the GPU services of this machine and the modes that group them.
# Reference: https://github.com/gpumod/gpumod-vscode#configuration
# Every service runs as a systemd user unit (systemctl --user). gpumod sleeps and wakes servers
# instead of restarting them wherever they support it.

services: {}
  # vllm-chat:
  #   driver: vllm              # vllm | llamacpp | http | systemd
  #   unit: vllm-chat.service   # started with VLLM_SERVER_DEV_MODE=1 and --enable-sleep-mode
  #   port: 7071
  #   vram_mb: 7000             # VRAM held awake
  #   sleep: l1                 # none | l1 (weights to host RAM) | l2 (weights discarded)
  #   sleep_vram_mb: 1500       # residue while asleep (CUDA context, graphs)
  # glm-code:
  #   driver: llamacpp          # llama-server in router mode (--models-dir, --no-models-autoload)
  #   unit: glm-code.service
  #   port: 7070
  #   vram_mb: 20000
  #   model: GLM-4.5-Air-Q4     # as listed by GET /models
  # asr:
  #   driver: http
  #   unit: asr.service
  #   port: 7080
  #   vram_mb: 2500
  #   sleep: { sleep: "POST /unload", wake: "POST /load", probe: "GET /status" }

modes:
  blank:
    description: Nothing on the GPU
    services: []
  # code:
  #   services: [glm-code]
  # chat:
  #   services: [vllm-chat, asr]
`;
