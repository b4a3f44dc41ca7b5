// Below this size a changed file is sent whole rather than by block delta: measured by bench/engine-threshold.ts.
export const WHOLE_FILE_BELOW = 16 * 1024;
