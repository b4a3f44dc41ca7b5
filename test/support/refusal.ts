// The KxError a call is refused with: the test fails when the call succeeds or fails with anything else.
import { KxError } from '../../pkg/sync/errors.ts';

/** The KxError `p` rejects with. */
export async function refusal(p: Promise<unknown>): Promise<KxError> {
  return p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: unknown) => {
      if (!(err instanceof KxError)) throw err;
      return err;
    },
  );
}

/** The KxError `f` throws. */
export function refusalOf(f: () => unknown): KxError {
  try {
    f();
  } catch (err) {
    if (err instanceof KxError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}
