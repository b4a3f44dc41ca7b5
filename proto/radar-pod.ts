// What radar tells about itself on its own pod, for `kx doctor`: the annotation radar sets once it has looked for
// the container runtime on its node (the runtime and socket it uses, or "none: tried …").
export const RUNTIME_ANNOTATION = 'kx.dev/runtime';
