/** Pub/sub channel on which the API tells workers that a task was canceled (its id as the message). */
export const taskCanceledChannel = (prefix: string) => `${prefix}:task-canceled`;
