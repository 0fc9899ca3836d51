/** The base of the event store's argument errors: `argument` names what was refused (an option, a field, an entry). */
export class EventArgumentError extends Error {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument} ${message}`);
    this.name = new.target.name;
  }
}
