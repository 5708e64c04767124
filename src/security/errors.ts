/**
 * Errors of the security plane. Messages name the file or object and the
 * reason, and never carry key material: callers print them as they are.
 */

/** A CA folder (or one file in it) that cannot be used; `problems` lists every reason found. */
export class CaFolderError extends Error {
  constructor(
    readonly dir: string,
    readonly problems: string[],
  ) {
    super(problems.length === 1 ? `CA folder ${dir}: ${problems[0]}` : `CA folder ${dir} has ${problems.length} problems:\n  - ${problems.join("\n  - ")}`);
    this.name = "CaFolderError";
  }
}

/** A certificate request the CA refuses to sign (bad signature, identity not granted, weak key...). */
export class CsrRefusedError extends Error {
  constructor(
    readonly reason: string,
    /** Where the CSR came from (a file, a pod), when known. */
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ""}certificate request refused: ${reason}`);
    this.name = "CsrRefusedError";
  }
}

/** gRPC status codes the security plane answers with (numbers as in grpc's status.proto). */
export const GRPC_CODE = { INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * A caller refused: not authenticated, not allowed, or asking for something
 * malformed. `code` is the gRPC status the call ends with; the message is sent
 * to the caller, so it never holds a token or a key.
 */
export class CallerRefusedError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CallerRefusedError";
  }
}
