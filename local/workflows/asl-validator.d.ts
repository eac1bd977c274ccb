// asl-validator ships JavaScript only; this is the part of its API the local runner uses.
declare module 'asl-validator' {
  interface AslValidationError {
    'Error code': string;
    Message: string;
    [field: string]: unknown;
  }
  interface AslValidationResult {
    isValid: boolean;
    errors: AslValidationError[];
    errorsText(separator?: string): string;
  }
  function validator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): AslValidationResult;
  export = validator;
}
