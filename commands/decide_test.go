package commands_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
)

// countingAllocator hands out 101, 102, ... and records which kinds were
// requested.
func countingAllocator() (commands.AllocateID, *[]commands.IDKind) {
	var requested []commands.IDKind
	next := int64(100)
	return func(kind commands.IDKind) (int64, error) {
		requested = append(requested, kind)
		next++
		return next, nil
	}, &requested
}

func foldTask(t *testing.T, id int64, history ...events.Event) commands.TaskState {
	t.Helper()
	state, err := commands.FoldTask(id, history)
	require.NoError(t, err)
	return state
}

func TestFoldTaskAppliesEveryEvent(t *testing.T) {
	t.Parallel()
	state := foldTask(t, 4,
		events.TaskAdded{TaskID: 4, Title: "milk", Description: "2 l"},
		events.TaskUpdated{TaskID: 4, Title: ptr("oat milk")},
		events.TaskCompleted{TaskID: 4},
	)
	require.Equal(t, commands.TaskState{ID: 4, Version: 3, Title: "oat milk", Description: "2 l", Completed: true}, state)
	require.True(t, state.Exists())

	state = foldTask(t, 4,
		events.TaskAdded{TaskID: 4, Title: "milk"},
		events.TaskCompleted{TaskID: 4},
		events.TaskReopened{TaskID: 4},
		events.TaskUpdated{TaskID: 4, Description: ptr("soon")},
		events.TaskDeleted{TaskID: 4},
	)
	require.False(t, state.Completed)
	require.Equal(t, "soon", state.Description)
	require.True(t, state.Deleted)
	require.False(t, state.Exists())

	require.False(t, foldTask(t, 4).Exists())
}

func TestFoldTaskRejectsImpossibleHistory(t *testing.T) {
	t.Parallel()
	histories := map[string][]events.Event{
		"no TaskAdded first":     {events.TaskCompleted{TaskID: 1}},
		"second TaskAdded":       {events.TaskAdded{TaskID: 1, Title: "a"}, events.TaskAdded{TaskID: 1, Title: "b"}},
		"event after delete":     {events.TaskAdded{TaskID: 1, Title: "a"}, events.TaskDeleted{TaskID: 1}, events.TaskReopened{TaskID: 1}},
		"conversation event":     {events.TaskAdded{TaskID: 1, Title: "a"}, events.ConversationStarted{ConversationID: 1}},
		"message before TaskAdd": {events.MessageAppended{ConversationID: 1, MessageID: 1, Role: "user", Content: "x"}},
	}
	for name, history := range histories {
		_, err := commands.FoldTask(1, history)
		require.Error(t, err, name)
	}
}

func TestDecideAddTaskTrimsTitle(t *testing.T) {
	t.Parallel()
	allocate, requested := countingAllocator()
	decision, err := commands.DecideAddTask(commands.AddTask{Header: header(), Title: "  milk \n", Description: " 2 l "}, allocate)
	require.NoError(t, err)
	require.Equal(t, events.TaskStream(101), decision.Stream)
	require.Equal(t, []events.Event{events.TaskAdded{TaskID: 101, Title: "milk", Description: " 2 l "}}, decision.Events)
	require.Equal(t, []commands.IDKind{commands.TaskID}, *requested)
}

func TestDecideAddTaskReturnsAllocationError(t *testing.T) {
	t.Parallel()
	failure := errors.New("sequence unavailable")
	_, err := commands.DecideAddTask(commands.AddTask{Header: header(), Title: "x"},
		func(commands.IDKind) (int64, error) { return 0, failure })
	require.ErrorIs(t, err, failure)
}

func TestDecideUpdateTask(t *testing.T) {
	t.Parallel()
	open := foldTask(t, 7, events.TaskAdded{TaskID: 7, Title: "milk", Description: "2 l"})
	update := func(title, description *string) commands.UpdateTask {
		return commands.UpdateTask{Header: header(), TaskID: 7, Title: title, Description: description}
	}

	decision, err := commands.DecideUpdateTask(open, update(ptr(" bread "), ptr("2 l")))
	require.NoError(t, err)
	require.Equal(t, []events.Event{events.TaskUpdated{TaskID: 7, Title: ptr("bread")}}, decision.Events,
		"only the changed title is recorded, trimmed")

	decision, err = commands.DecideUpdateTask(open, update(nil, ptr("")))
	require.NoError(t, err)
	require.Equal(t, []events.Event{events.TaskUpdated{TaskID: 7, Description: ptr("")}}, decision.Events)

	decision, err = commands.DecideUpdateTask(open, update(ptr("milk  "), ptr("2 l")))
	require.NoError(t, err)
	require.Empty(t, decision.Events)
	require.Contains(t, decision.Note, "nothing changed")
	require.Equal(t, events.TaskStream(7), decision.Stream)
}

func TestDecideTaskCommandsOnMissingTask(t *testing.T) {
	t.Parallel()
	missing := commands.TaskState{ID: 7}
	deleted := foldTask(t, 7, events.TaskAdded{TaskID: 7, Title: "a"}, events.TaskDeleted{TaskID: 7})
	for _, state := range []commands.TaskState{missing, deleted} {
		_, err := commands.DecideUpdateTask(state, commands.UpdateTask{Header: header(), TaskID: 7, Title: ptr("b")})
		require.ErrorIs(t, err, commands.ErrNotFound)
		_, err = commands.DecideCompleteTask(state, commands.CompleteTask{Header: header(), TaskID: 7})
		require.ErrorIs(t, err, commands.ErrNotFound)
		_, err = commands.DecideReopenTask(state, commands.ReopenTask{Header: header(), TaskID: 7})
		require.ErrorIs(t, err, commands.ErrNotFound)
		_, err = commands.DecideDeleteTask(state, commands.DeleteTask{Header: header(), TaskID: 7})
		require.ErrorIs(t, err, commands.ErrNotFound)
	}
}

func TestDecideCompleteAndReopen(t *testing.T) {
	t.Parallel()
	open := foldTask(t, 2, events.TaskAdded{TaskID: 2, Title: "a"})
	done := foldTask(t, 2, events.TaskAdded{TaskID: 2, Title: "a"}, events.TaskCompleted{TaskID: 2})

	decision, err := commands.DecideCompleteTask(open, commands.CompleteTask{Header: header(), TaskID: 2})
	require.NoError(t, err)
	require.Equal(t, []events.Event{events.TaskCompleted{TaskID: 2}}, decision.Events)

	decision, err = commands.DecideCompleteTask(done, commands.CompleteTask{Header: header(), TaskID: 2})
	require.NoError(t, err)
	require.Empty(t, decision.Events)
	require.Equal(t, "task 2 is already completed, so nothing changed", decision.Note)

	decision, err = commands.DecideReopenTask(done, commands.ReopenTask{Header: header(), TaskID: 2})
	require.NoError(t, err)
	require.Equal(t, []events.Event{events.TaskReopened{TaskID: 2}}, decision.Events)

	decision, err = commands.DecideReopenTask(open, commands.ReopenTask{Header: header(), TaskID: 2})
	require.NoError(t, err)
	require.Empty(t, decision.Events)
	require.Equal(t, "task 2 is already open, so nothing changed", decision.Note)
}

func TestDecideDeleteTask(t *testing.T) {
	t.Parallel()
	done := foldTask(t, 3, events.TaskAdded{TaskID: 3, Title: "a"}, events.TaskCompleted{TaskID: 3})
	decision, err := commands.DecideDeleteTask(done, commands.DeleteTask{Header: header(), TaskID: 3})
	require.NoError(t, err)
	require.Equal(t, []events.Event{events.TaskDeleted{TaskID: 3}}, decision.Events)
}

func TestDecideStartConversation(t *testing.T) {
	t.Parallel()
	allocate, requested := countingAllocator()
	decision, err := commands.DecideStartConversation(commands.StartConversation{Header: header()}, allocate)
	require.NoError(t, err)
	require.Equal(t, events.ConversationStream(101), decision.Stream)
	require.Equal(t, []events.Event{events.ConversationStarted{ConversationID: 101}}, decision.Events)
	require.Equal(t, []commands.IDKind{commands.ConversationID}, *requested)
}

func TestDecideAppendMessage(t *testing.T) {
	t.Parallel()
	existing := commands.ConversationState{ID: 9, Version: 4}
	cmd := commands.AppendMessage{Header: header(), ConversationID: 9, Role: commands.RoleAssistant, Content: "Added milk."}

	allocate, requested := countingAllocator()
	decision, err := commands.DecideAppendMessage(existing, cmd, allocate)
	require.NoError(t, err)
	require.Equal(t, events.ConversationStream(9), decision.Stream)
	require.Equal(t, []events.Event{events.MessageAppended{ConversationID: 9, MessageID: 101, Role: "assistant", Content: "Added milk."}},
		decision.Events)
	require.Equal(t, []commands.IDKind{commands.MessageID}, *requested)
}

func TestDecideAppendMessageUnknownConversation(t *testing.T) {
	t.Parallel()
	allocate, requested := countingAllocator()
	cmd := commands.AppendMessage{Header: header(), ConversationID: 9, Role: commands.RoleUser, Content: "hi"}
	_, err := commands.DecideAppendMessage(commands.ConversationState{ID: 9}, cmd, allocate)
	require.ErrorIs(t, err, commands.ErrNotFound)
	require.Empty(t, *requested, "a rejected command allocates no id")
}

func TestDecideAppendMessageStartsConversation(t *testing.T) {
	t.Parallel()
	allocate, requested := countingAllocator()
	cmd := commands.AppendMessage{Header: header(), Role: commands.RoleUser, Content: "add milk"}
	decision, err := commands.DecideAppendMessage(commands.ConversationState{}, cmd, allocate)
	require.NoError(t, err)
	require.Equal(t, events.ConversationStream(101), decision.Stream)
	require.Equal(t, []events.Event{
		events.ConversationStarted{ConversationID: 101},
		events.MessageAppended{ConversationID: 101, MessageID: 102, Role: "user", Content: "add milk"},
	}, decision.Events)
	require.Equal(t, []commands.IDKind{commands.ConversationID, commands.MessageID}, *requested)
}
