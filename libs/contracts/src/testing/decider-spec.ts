// given/when/then specifications for any decider (Emmett's shape), shared by every aggregate.

export interface Decider<Command, Event, State, Context, Error> {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  readonly decide: (command: Command, state: State, context: Context) => { ok: true; events: Event[] } | { ok: false; error: Error };
}

/**
 * given(events).when(command).then(events) / .thenFails(matcher). Uses Jest's expect, so a
 * failing spec prints the difference.
 */
export function deciderSpec<Command, Event, State, Context, Error>(
  decider: Decider<Command, Event, State, Context, Error>,
  context: Context,
) {
  return {
    given(history: Event[]) {
      const state = history.reduce(decider.evolve, decider.initialState());
      return {
        when(command: Command) {
          const result = decider.decide(command, state, context);
          return {
            then(expected: Event[]) {
              if (!result.ok) throw new Error(`expected events, decider failed with ${JSON.stringify(result.error)}`);
              expect(result.events).toEqual(expected);
            },
            thenFails(expected: Partial<Error> | ((error: Error) => void)) {
              if (result.ok) throw new Error(`expected a failure, decider returned ${JSON.stringify(result.events)}`);
              if (typeof expected === 'function') (expected as (error: Error) => void)(result.error);
              else expect(result.error).toMatchObject(expected as object);
            },
          };
        },
      };
    },
  };
}
