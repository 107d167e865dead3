package interop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestOpenAISDK drives the gateway with the official OpenAI Go SDK, its
// bearer token being a scopegate access token, as a user's app would.
func TestOpenAISDK(t *testing.T) {
	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	g := startGateway(t, fmt.Sprintf(`issuer: %q
    audiences: [%q]`, iss.URL(), audience))

	sdk := func(scopes ...string) openai.Client {
		tok := g.remember(iss.AccessToken(issuer.AccessTokenSpec{
			Subject: "alice", ClientID: "sdk-app", Audience: []string{audience}, Scopes: scopes,
		}))
		return openai.NewClient(
			option.WithBaseURL(g.proxy+"/v1/"),
			option.WithAPIKey(tok),
			option.WithMaxRetries(0),
			option.WithRequestTimeout(30*time.Second),
		)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("streaming_chat_arrives_event_by_event", func(t *testing.T) {
		client := sdk("chat:completions")
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five six")},
		})
		defer stream.Close()
		var arrivals []time.Time
		var text strings.Builder
		for stream.Next() {
			arrivals = append(arrivals, time.Now())
			if c := stream.Current(); len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if len(arrivals) < 4 {
			t.Fatalf("%d events; want several", len(arrivals))
		}
		if text.Len() == 0 {
			t.Error("the streamed deltas carry no content")
		}
		// The mock API pauses streamDelay between events. Had anything on the
		// way buffered the stream, the events would arrive together; arriving
		// one by one, the first and last are at least (n-1) pauses apart.
		// (A slow machine only widens the gap, so this cannot flake.)
		spread := arrivals[len(arrivals)-1].Sub(arrivals[0])
		if want := time.Duration(len(arrivals)-1) * streamDelay; spread < want {
			t.Errorf("%d events arrived within %v; want them one by one, at least %v apart in all", len(arrivals), spread, want)
		}
	})

	t.Run("rate_limit_is_a_429_the_sdk_reads", func(t *testing.T) {
		client := sdk("embeddings:create")
		params := openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}
		if _, err := client.Embeddings.New(ctx, params); err != nil {
			t.Fatalf("first embedding: %v", err)
		}
		_, err := client.Embeddings.New(ctx, params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("error %v (%T); want *openai.Error", err, err)
		}
		if apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "rate_limit_exceeded" || apiErr.Type != "rate_limit_error" {
			t.Errorf("status %d code %q type %q; want 429 rate_limit_exceeded rate_limit_error", apiErr.StatusCode, apiErr.Code, apiErr.Type)
		}
		h := apiErr.Response.Header
		if h.Get("Retry-After") == "" || h.Get("Retry-After-Ms") == "" || h.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Errorf("headers %v; want Retry-After, retry-after-ms and x-ratelimit-remaining-requests: 0", h)
		}
	})

	t.Run("streamed_usage_is_billed", func(t *testing.T) {
		// The chat route has a token budget: the gateway asks for the
		// stream's usage, bills it, and the SDK sees no usage chunk it
		// did not ask for.
		client := sdk("chat:completions")
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("bill me")},
		})
		defer stream.Close()
		for stream.Next() {
			if c := stream.Current(); c.Usage.TotalTokens > 0 {
				t.Errorf("a chunk carries usage the client did not ask for: %+v", c.Usage)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if !testkit.Wait(5*time.Second, func() bool { return strings.Contains(g.output(), `"limit_billed":"usage"`) }) {
			t.Errorf("no audit record billed a stream its usage:\n%s", g.output())
		}
	})

	t.Run("image_generation_with_scope", func(t *testing.T) {
		client := sdk("generate:images")
		img, err := client.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a lighthouse", Model: openai.ImageModelDallE3})
		if err != nil {
			t.Fatalf("images.generate: %v", err)
		}
		if len(img.Data) != 1 || img.Data[0].B64JSON == "" {
			t.Errorf("image response %+v; want one b64_json image", img.Data)
		}
	})

	t.Run("missing_scope_is_an_api_error_with_our_code", func(t *testing.T) {
		client := sdk("chat:completions")
		_, err := client.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a lighthouse", Model: openai.ImageModelDallE3})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("error %v (%T); want *openai.Error", err, err)
		}
		if apiErr.StatusCode != http.StatusForbidden {
			t.Errorf("status %d; want 403", apiErr.StatusCode)
		}
		if apiErr.Code != "insufficient_scope" {
			t.Errorf("code %q; want insufficient_scope", apiErr.Code)
		}
		if !strings.Contains(apiErr.Message, "generate:images") {
			t.Errorf("message %q; want it to name the missing scope", apiErr.Message)
		}
		if apiErr.Type == "" {
			t.Error("the error has no type")
		}
		// openai-go's Error() shows only the status ("OpenAI API error: 403
		// Forbidden"), by design: the message and code are in the fields.
	})

	t.Run("id_token_is_an_authentication_error", func(t *testing.T) {
		client := openai.NewClient(option.WithBaseURL(g.proxy+"/v1/"), option.WithMaxRetries(0),
			option.WithAPIKey(g.remember(iss.IDToken("alice", "sdk-app"))))
		_, err := client.Models.List(ctx)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "invalid_token" {
			t.Fatalf("error %v; want a 401 API error with code invalid_token", err)
		}
	})
}
