/**
 * aws-local-stepfunctions uses `Promise.withResolvers` (Node.js 22+). Node.js 20 gets this small stand-in,
 * installed only where the runtime lacks it.
 */
interface PromiseConstructorWithResolvers {
  withResolvers?: <T>() => {
    promise: Promise<T>;
    resolve: (value: T | PromiseLike<T>) => void;
    reject: (reason?: unknown) => void;
  };
}

const promiseConstructor = Promise as unknown as PromiseConstructorWithResolvers;
if (typeof promiseConstructor.withResolvers !== 'function') {
  promiseConstructor.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
