// What tests/harness/harness.ts puts on the test page's window (see there).
export {};

declare global {
  interface Window {
    __deskbellHarness: {
      emit: (event: string, payload: unknown) => Promise<void>;
      listening: () => string[];
    };
  }
}
