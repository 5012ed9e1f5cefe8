// What a window needs only once it has a configuration: the engine, the machine's adapters, config
// loading, discovery, the agent tools and the panels. esbuild bundles this module as dist/core.js,
// apart from dist/extension.js, so a starting window neither compiles nor runs it (issue 13's
// activation goal; costMeter.ts measures it). The extension reaches it only through useCore.ts.
export { createMachine } from '../machine';
export { observe } from '../engine/observe';
export { previewPlan, serviceAction, switchMode } from '../engine/switcher';
export { learnFrom } from '../engine/learn';
export { measuredNow } from '../engine/footprints';
export { asSwitchState } from '../engine/records';
export { statusReport } from '../agent/reports';
export { actionTitle, parseToolInput, runTool, switchConfirmation } from '../agent/tools';
export { readJsonFile } from '../system/stateStore';
export { runProcess } from '../system/process';
export { driverFor } from '../drivers/registry';
export { loadConfig } from '../config/load';
export * as detectMachine from '../discovery/detectMachine';
export * as detection from '../discovery/detectServices';
export * as configLoad from '../config/load';
export * as proposalYaml from '../discovery/proposalYaml';
export * as timelineCommand from './commands/showTimeline';
export * as memoryCommand from './commands/showGpuMemory';
export * as previewCommand from './commands/previewSwitch';
export { PreviewPanel } from './panels/previewPanel';
