/** What a unit's command line says about the server it runs: the classifier's answer. */

/** Where the server listens, and where gpumod would call it. */
export interface Listen {
  port: number;
  /** The port was not on the command line: the server's default. */
  portDefault: boolean;
  /** The address it binds, as written (`0.0.0.0`), or its default. */
  bind: string;
  /** Where gpumod calls it: loopback (a wildcard bind is reached on 127.0.0.1). */
  host: string;
  /** It listens on every interface, not only loopback. */
  exposed: boolean;
}

export interface VllmServer {
  kind: 'vllm';
  /** The model as given (a Hugging Face id or a path), undefined for vLLM's default. */
  model?: string;
  /** `--served-model-name`: the names clients use. */
  servedNames: string[];
  listen: Listen;
  sleepFlag: boolean;
  devMode: boolean;
  /** PYTORCH_CUDA_ALLOC_CONF has expandable_segments:True: a sleep frees nothing. */
  expandableSegments: boolean;
  gpuMemoryUtilization?: number;
  /** CUDA_VISIBLE_DEVICES, split. */
  visibleDevices?: string[];
  tensorParallel?: number;
}

export interface LlamaRouter {
  kind: 'llama-router';
  listen: Listen;
  modelsDir?: string;
  modelsPreset?: string;
  /** `--models-max` (llama-server's default 4; 0 = unlimited). */
  modelsMax: number;
  autoload: boolean;
  sleepIdleSeconds?: number;
  visibleDevices?: string[];
}

export interface LlamaSingle {
  kind: 'llama-single';
  listen: Listen;
  /** `-m FILE`, `-hf REPO` or `-mu URL` as given. */
  model: string;
  alias?: string;
  sleepIdleSeconds?: number;
  visibleDevices?: string[];
}

export interface HttpApp {
  kind: 'http-app';
  runner: 'uvicorn' | 'fastapi' | 'gunicorn';
  /** `main:app`, or the file `fastapi run` was given. */
  app?: string;
  listen: Listen;
  workers?: number;
  visibleDevices?: string[];
}

export type Server = VllmServer | LlamaRouter | LlamaSingle | HttpApp;

export type Classification =
  | {
      ok: true;
      server: Server;
      /** How it was read: `bash -c`, `uv run`. */
      via: string[];
      notes: string[];
      /** The server's command line as read (program and arguments), for the proposal's comment. */
      command: string;
    }
  | { ok: false; reason: string };
