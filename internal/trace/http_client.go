package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/todolog/todolog/commands"
)

// maxResponseBytes bounds a response body the client reads.
const maxResponseBytes = 4 << 20

// HTTPClient is a commands.Dispatcher that sends each command to the HTTP
// API of `todolog serve`, on the endpoint of its kind (POST .../tasks,
// PATCH .../tasks/{id} and so on), with the command id as the
// Idempotency-Key header. It is safe for concurrent use.
type HTTPClient struct {
	base   *url.URL
	token  string
	client *http.Client
}

var _ commands.Dispatcher = (*HTTPClient)(nil)

// NewHTTPClient returns a client of the API at baseURL, such as
// http://127.0.0.1:8080. A non-empty token is sent as the bearer
// credential. A nil client means one with a 30 s timeout per request that
// keeps up to 64 idle connections to the service, so concurrent users
// reuse connections instead of opening one per request.
func NewHTTPClient(baseURL, token string, client *http.Client) (*HTTPClient, error) {
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("the service URL %q must be an http or https URL such as http://127.0.0.1:8080", baseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	if client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = 64
		client = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	return &HTTPClient{base: base, token: token, client: client}, nil
}

// Handle sends cmd and returns the result. An error response is an
// *HTTPError, testable with errors.Is against the commands sentinels. A
// request that could not be sent returns the *url.Error of net/http.
func (c *HTTPClient) Handle(ctx context.Context, cmd commands.Command) (commands.Result, error) {
	method, path, err := endpoint(cmd)
	if err != nil {
		return commands.Result{}, err
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return commands.Result{}, fmt.Errorf("encoding %s: %w", cmd.CommandName(), err)
	}
	target := c.base.String() + path
	request, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return commands.Result{}, fmt.Errorf("building the request for %s: %w", cmd.CommandName(), err)
	}
	request.Header.Set("Content-Type", "application/json")
	if id := cmd.CommandHeader().CommandID; id != "" {
		request.Header.Set("Idempotency-Key", id)
	}
	if c.token != "" {
		request.Header.Set("Authorization", "Bearer "+c.token)
	}

	response, err := c.client.Do(request)
	if err != nil {
		if ctx.Err() != nil {
			return commands.Result{}, fmt.Errorf("%s %s: %w", method, target, ctx.Err())
		}
		return commands.Result{}, fmt.Errorf("%s could not reach the service: %w", cmd.CommandName(), err)
	}
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, maxResponseBytes))
	if err != nil {
		return commands.Result{}, fmt.Errorf("reading the response to %s %s: %w", method, target, err)
	}
	if response.StatusCode >= 300 {
		return commands.Result{}, newHTTPError(method, target, response.StatusCode, data)
	}
	var result commands.Result
	if err := json.Unmarshal(data, &result); err != nil {
		return commands.Result{}, fmt.Errorf("decoding the response to %s %s (status %d): %w", method, target, response.StatusCode, err)
	}
	return result, nil
}

// endpoint returns the method and path of cmd's endpoint.
func endpoint(cmd commands.Command) (method, path string, err error) {
	user := "/v1/users/" + url.PathEscape(cmd.CommandHeader().UserID)
	task := func(id int64) string { return user + "/tasks/" + strconv.FormatInt(id, 10) }
	switch c := cmd.(type) {
	case commands.AddTask:
		return http.MethodPost, user + "/tasks", nil
	case commands.UpdateTask:
		return http.MethodPatch, task(c.TaskID), nil
	case commands.CompleteTask:
		return http.MethodPost, task(c.TaskID) + "/complete", nil
	case commands.ReopenTask:
		return http.MethodPost, task(c.TaskID) + "/reopen", nil
	case commands.DeleteTask:
		return http.MethodDelete, task(c.TaskID), nil
	case commands.StartConversation:
		return http.MethodPost, user + "/conversations", nil
	case commands.AppendMessage:
		if c.ConversationID != 0 {
			return http.MethodPost, user + "/conversations/" + strconv.FormatInt(c.ConversationID, 10) + "/messages", nil
		}
		return http.MethodPost, user + "/messages", nil
	case nil:
		return "", "", errors.New("a command is required, got nil")
	default:
		return http.MethodPost, user + "/commands/" + url.PathEscape(cmd.CommandName()), nil
	}
}
