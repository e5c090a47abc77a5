/** Types of speech.mjs for the TypeScript tests that call it directly. */
export interface Utterance {
  start: number;
  end: number;
  text: string;
}
export const DEFAULT_MODEL_DIR: string;
export function modelFiles(modelDir: string): { hmm: string; dict: string; lm: string };
export function transcribeCommand(files: { hmm: string; dict: string; lm: string }): string[];
export function readUtterances(printed: string, durationSeconds: number): Utterance[];
