using OspBridge.Crypto.Spake2;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Auth;

public sealed class OspAuthenticatorTests
{
    private static T Single<T>(IEnumerable<OspAuthEvent> events) => Assert.Single(events.OfType<T>());

    private static void AssertFailed(OspAuthenticator core, List<OspAuthEvent> events, OspAuthFailure reason)
    {
        Assert.Equal(OspAuthState.Failed, core.State);
        Assert.Equal(reason, core.Failure);
        Assert.Equal(reason, Single<OspAuthFailed>(events).Reason);
        Assert.Empty(events.OfType<OspAuthAuthenticated>());
        Assert.Null(core.NextDeadline);
    }

    private static List<AuthSpake2Handshake> Handshakes(AuthPair pair, bool fromClient) =>
        pair.Wire.Where(w => w.FromClient == fromClient).Select(w => w.Message).OfType<AuthSpake2Handshake>().ToList();

    [Fact]
    public void On_a_tie_the_server_presents_and_both_sides_authenticate()
    {
        using var pair = new AuthPair(clientEase: 50, serverEase: 50);
        pair.Start();

        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
        Assert.Equal(OspAuthRole.Presenter, pair.Server.Role);
        Assert.Equal(OspAuthRole.Consumer, pair.Client.Role);
        Assert.Equal(AuthPair.ServerFingerprint, Single<OspAuthAuthenticated>(pair.ClientEvents).PeerFingerprint);
        Assert.Equal(AuthPair.ClientFingerprint, Single<OspAuthAuthenticated>(pair.ServerEvents).PeerFingerprint);
        Assert.Single(pair.ServerEvents.OfType<OspAuthShowPin>());
        Assert.Empty(pair.ClientEvents.OfType<OspAuthShowPin>());
        Assert.Equal(1, pair.NeedPinCount);
        Assert.Equal(9, pair.ShownPin!.Digits);

        // Wire: the client's first handshake asks for presentation and carries the advertiser's at.
        var fromClient = Handshakes(pair, fromClient: true);
        var fromServer = Handshakes(pair, fromClient: false);
        Assert.Equal(2, fromClient.Count);
        Assert.Equal(AuthSpake2PskStatus.PskNeedsPresentation, fromClient[0].PskStatus);
        Assert.Equal(AuthPair.Token, fromClient[0].InitiationToken.Token);
        Assert.True(fromClient[0].PublicValue.IsEmpty);
        Assert.Equal(AuthSpake2PskStatus.PskInput, fromClient[1].PskStatus);
        Assert.Equal(32, fromClient[1].PublicValue.Length);
        var shown = Assert.Single(fromServer);
        Assert.Equal(AuthSpake2PskStatus.PskShown, shown.PskStatus);
        Assert.Equal(AuthPair.Token, shown.InitiationToken.Token);
        Assert.Equal(32, shown.PublicValue.Length);

        // Confirmations: 64 bytes, MAC then 32 zero bytes; then auth-status authenticated both ways.
        var confirmations = pair.Wire.Select(w => w.Message).OfType<AuthSpake2Confirmation>().ToList();
        Assert.Equal(2, confirmations.Count);
        Assert.All(confirmations, c =>
        {
            Assert.Equal(64, c.ConfirmationValue.Length);
            Assert.False(c.ConfirmationValue.Span[..32].IndexOfAnyExcept((byte)0) < 0);
            Assert.True(c.ConfirmationValue.Span[32..].IndexOfAnyExcept((byte)0) < 0);
        });
        Assert.NotEqual(confirmations[0].ConfirmationValue.ToArray(), confirmations[1].ConfirmationValue.ToArray());
        var statuses = pair.Wire.Where(w => w.Message is AuthStatus).ToList();
        Assert.Equal(2, statuses.Count);
        Assert.All(statuses, s => Assert.Equal(AuthStatusResult.Authenticated, ((AuthStatus)s.Message).Result));
        Assert.Null(pair.Client.NextDeadline);
    }

    [Fact]
    public void The_side_with_lower_ease_of_input_presents_client_presenting_sends_the_first_share()
    {
        using var pair = new AuthPair(clientEase: 0, serverEase: 100);
        pair.Start();

        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
        Assert.Equal(OspAuthRole.Presenter, pair.Client.Role);
        Assert.Single(pair.ClientEvents.OfType<OspAuthShowPin>());
        Assert.Single(pair.ServerEvents.OfType<OspAuthNeedPin>());
        var first = Handshakes(pair, fromClient: true)[0];
        Assert.Equal(AuthSpake2PskStatus.PskShown, first.PskStatus);
        Assert.Equal(AuthPair.Token, first.InitiationToken.Token);
        Assert.Equal(32, first.PublicValue.Length);
    }

    [Fact]
    public void Lower_ease_server_presents()
    {
        using var pair = new AuthPair(clientEase: 90, serverEase: 10);
        pair.Start();
        Assert.Equal(OspAuthRole.Presenter, pair.Server.Role);
        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
    }

    [Theory]
    [InlineData(20UL, 40UL, 16)]
    [InlineData(60UL, 20UL, 20)]
    [InlineData(0UL, 5UL, 9)] // below the spec's range: clamped to 20
    [InlineData(1000UL, 20UL, 20)] // above: clamped to 60
    public void The_PSK_has_the_larger_of_both_minimum_entropies(ulong clientBits, ulong serverBits, int digits)
    {
        using var pair = new AuthPair(clientBits: clientBits, serverBits: serverBits);
        pair.Start();
        Assert.Equal(digits, pair.ShownPin!.Digits);
        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
    }

    [Fact]
    public void Reordered_messages_still_authenticate()
    {
        // Each message has its own QUIC stream: a handshake may overtake auth-capabilities, a confirmation its handshake.
        using var pair = new AuthPair(clientEase: 0, serverEase: 100);
        pair.Client.Start(pair.Now);
        pair.Server.Start(pair.Now);
        pair.DeliverOne(fromClient: false); // the server's auth-capabilities: the client presents and queues its share
        pair.ReverseBatches = true; // the client's share now overtakes its auth-capabilities, cB overtakes pB
        pair.Run();
        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
    }

    [Fact]
    public void P256_suite_authenticates_too()
    {
        using var pair = new AuthPair(tweak: b => b.Suite = Spake2Suite.P256Sha256);
        pair.Start();
        Assert.Equal(OspAuthState.Authenticated, pair.Client.State);
        Assert.Equal(65, Handshakes(pair, fromClient: true)[1].PublicValue.Length);
    }

    [Fact]
    public void Fresh_PSK_and_shares_for_every_attempt()
    {
        using var a = new AuthPair(seed: 1);
        using var b = new AuthPair(seed: 2);
        a.Start();
        b.Start();
        Assert.NotEqual(a.ShownPin, b.ShownPin);
        Assert.NotEqual(Handshakes(a, false)[0].PublicValue.ToArray(), Handshakes(b, false)[0].PublicValue.ToArray());
    }

    [Fact]
    public void Wrong_PIN_fails_both_sides_with_proof_invalid()
    {
        using var pair = new AuthPair { PinToType = pin => OspPsk.FromValue(pin.Value + 1, pin.Digits).ToDisplayString() };
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.ProofInvalid);
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.ProofInvalid);
        Assert.Contains(pair.Wire, w => w.Message is AuthStatus { Result: AuthStatusResult.ProofInvalid });
        Assert.DoesNotContain(pair.Wire, w => w.Message is AuthStatus { Result: AuthStatusResult.Authenticated });
    }

    [Fact]
    public void Missing_token_is_dropped_before_anything_is_shown()
    {
        using var pair = new AuthPair(clientToken: null);
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.MissingAuthToken);
        Assert.Empty(pair.ServerEvents.OfType<OspAuthShowPin>());
        Assert.DoesNotContain(pair.Wire, w => !w.FromClient && w.Message is not AuthCapabilities); // no answer at all

        // The client hears nothing and times out.
        Assert.Equal(OspAuthState.AwaitingHandshake, pair.Client.State);
        pair.Advance(OspAuthenticatorOptions.DefaultStepTimeout);
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.Timeout);
    }

    [Fact]
    public void Wrong_token_is_dropped_before_anything_is_shown()
    {
        using var pair = new AuthPair(clientToken: "Tok3n+ForTests/8");
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.InvalidAuthToken);
        Assert.Empty(pair.ServerEvents.OfType<OspAuthShowPin>());
        Assert.DoesNotContain(pair.Wire, w => !w.FromClient && w.Message is not AuthCapabilities);
    }

    [Fact]
    public void Wrong_token_is_dropped_when_the_client_presents_too()
    {
        using var pair = new AuthPair(clientEase: 0, serverEase: 100, clientToken: "nope");
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.InvalidAuthToken);
        Assert.Empty(pair.ServerEvents.OfType<OspAuthNeedPin>()); // the server's user is never asked
    }

    [Fact]
    public void A_server_handshake_with_another_token_fails_at_the_client()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => !fromClient && m is AuthSpake2Handshake h
            ? new AuthSpake2Handshake { InitiationToken = new AuthInitiationToken { Token = "other" }, PskStatus = h.PskStatus, PublicValue = h.PublicValue }
            : m;
        pair.Start();
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.InvalidAuthToken);
        Assert.Equal(0, pair.NeedPinCount);
    }

    [Fact]
    public void A_later_handshake_may_omit_the_token_but_not_change_it()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => fromClient && m is AuthSpake2Handshake { PskStatus: AuthSpake2PskStatus.PskInput } h
            ? new AuthSpake2Handshake { InitiationToken = new AuthInitiationToken(), PskStatus = h.PskStatus, PublicValue = h.PublicValue }
            : m;
        pair.Start();
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
    }

    [Fact]
    public void A_second_handshake_fails()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        Assert.Equal(OspAuthState.AwaitingShare, pair.Server.State);
        var first = Handshakes(pair, fromClient: true)[0];
        pair.Inject(toClient: false, first); // the psk-needs-presentation again
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.UnexpectedMessage);
        Assert.Contains(pair.Wire, w => !w.FromClient && w.Message is AuthStatus { Result: AuthStatusResult.UnknownError });
    }

    [Fact]
    public void A_duplicate_psk_input_after_the_share_fails()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => m is AuthSpake2Confirmation ? null : m; // stop before confirmation
        pair.Start();
        Assert.Equal(OspAuthState.AwaitingConfirmation, pair.Server.State);
        pair.Inject(toClient: false, Handshakes(pair, fromClient: true)[1]);
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.UnexpectedMessage);
    }

    [Fact]
    public void A_handshake_recorded_in_an_earlier_attempt_fails_on_replay()
    {
        // Attempt 1, observed by an attacker on the LAN.
        using var recorded = new AuthPair(seed: 11);
        recorded.Start();
        Assert.Equal(OspAuthState.Authenticated, recorded.Server.State);
        var oldRequest = Handshakes(recorded, fromClient: true)[0];
        var oldShare = Handshakes(recorded, fromClient: true)[1];
        var oldConfirmation = recorded.Wire.Where(w => w.FromClient).Select(w => w.Message).OfType<AuthSpake2Confirmation>().Single();
        var oldCaps = recorded.Wire.Where(w => w.FromClient).Select(w => w.Message).OfType<AuthCapabilities>().Single();

        // Attempt 2: the attacker (holding the client's key, not knowing the new PIN) replays attempt 1's messages.
        var server = new OspAuthenticator(new OspAuthenticatorOptionsBuilder
        {
            IsAdvertiser = true, Local = AuthPair.ServerFingerprint, Remote = AuthPair.ClientFingerprint, Token = AuthPair.Token,
            Ease = 50, Bits = 20, Seed = 12,
        }.Build());
        using (server)
        {
            server.Start(TimeSpan.Zero);
            foreach (var m in new IOspMessage[] { oldCaps, oldRequest, oldShare, oldConfirmation })
            {
                server.Receive(OspFraming.Decode(OspFraming.Frame(m)), TimeSpan.Zero);
            }

            var events = new List<OspAuthEvent>();
            while (server.TryPollEvent(out var e)) events.Add(e);
            AssertFailed(server, events, OspAuthFailure.ProofInvalid);
            Assert.NotEqual(recorded.ShownPin, events.OfType<OspAuthShowPin>().Single().Pin); // a fresh PSK
        }
    }

    [Fact]
    public void A_replayed_confirmation_fails()
    {
        using var recorded = new AuthPair(seed: 21);
        recorded.Start();
        var oldConfirmation = recorded.Wire.Where(w => w.FromClient).Select(w => w.Message).OfType<AuthSpake2Confirmation>().Single();

        using var pair = new AuthPair(seed: 22);
        pair.Tamper = (fromClient, m) => fromClient && m is AuthSpake2Confirmation ? oldConfirmation : m;
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.ProofInvalid);
    }

    [Theory]
    [InlineData(0)] // in the MAC
    [InlineData(31)]
    [InlineData(32)] // in the zero padding
    [InlineData(63)]
    public void A_tampered_confirmation_fails(int index)
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) =>
        {
            if (!fromClient || m is not AuthSpake2Confirmation c) return m;
            var bytes = c.ConfirmationValue.ToArray();
            bytes[index] ^= 0x01;
            return new AuthSpake2Confirmation { ConfirmationValue = bytes };
        };
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.ProofInvalid);
        Assert.Contains(pair.Wire, w => !w.FromClient && w.Message is AuthStatus { Result: AuthStatusResult.ProofInvalid });
    }

    [Fact]
    public void A_share_that_is_not_a_point_fails()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => fromClient && m is AuthSpake2Handshake { PskStatus: AuthSpake2PskStatus.PskInput } h
            ? new AuthSpake2Handshake { InitiationToken = h.InitiationToken, PskStatus = h.PskStatus, PublicValue = Enumerable.Repeat((byte)0xff, 32).ToArray() }
            : m;
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.InvalidShare);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(200)]
    public void A_share_of_impossible_length_fails(int length)
    {
        using var pair = new AuthPair(clientEase: 0, serverEase: 100);
        pair.Tamper = (fromClient, m) => fromClient && m is AuthSpake2Handshake h
            ? new AuthSpake2Handshake { InitiationToken = h.InitiationToken, PskStatus = h.PskStatus, PublicValue = new byte[length] }
            : m;
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.InvalidShare);
        Assert.Equal(0, pair.NeedPinCount);
    }

    [Fact]
    public void A_confirmation_before_any_share_fails()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        Assert.Equal(OspAuthState.AwaitingPin, pair.Client.State);
        pair.Inject(toClient: true, new AuthSpake2Confirmation { ConfirmationValue = new byte[64] });
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.UnexpectedMessage);
    }

    [Fact]
    public void Peer_failure_status_ends_the_attempt()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        pair.Inject(toClient: false, new AuthStatus { Result = AuthStatusResult.SecretUnknown });
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.PeerRejected);
    }

    [Fact]
    public void An_authenticated_status_from_the_peer_proves_nothing()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        pair.Inject(toClient: false, new AuthStatus { Result = AuthStatusResult.Authenticated });
        Assert.Equal(OspAuthState.AwaitingShare, pair.Server.State);
        Assert.Empty(pair.ServerEvents.OfType<OspAuthAuthenticated>());
    }

    [Fact]
    public void Cancelled_PIN_entry_sends_secret_unknown()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        pair.Client.CancelPinEntry(pair.Now);
        pair.Run();
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.PinEntryCancelled);
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.PeerRejected);
        Assert.Contains(pair.Wire, w => w.FromClient && w.Message is AuthStatus { Result: AuthStatusResult.SecretUnknown });
    }

    [Fact]
    public void Text_that_is_not_a_PIN_is_not_accepted_and_the_prompt_stays_open()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        Assert.False(pair.Client.SubmitPin("12a", pair.Now));
        Assert.Equal(OspAuthState.AwaitingPin, pair.Client.State);
        Assert.True(pair.Client.SubmitPin(pair.ShownPin!.ToDisplayString(), pair.Now));
        pair.Run();
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
        Assert.False(pair.Client.SubmitPin(pair.ShownPin.ToDisplayString(), pair.Now)); // nothing expected any more
    }

    [Fact]
    public void Silent_peer_times_out_after_the_step_timeout()
    {
        using var pair = new AuthPair();
        pair.Client.Start(TimeSpan.Zero); // the server never starts
        Assert.Equal(OspAuthenticatorOptions.DefaultStepTimeout, pair.Client.NextDeadline);
        pair.Client.HandleDeadline(OspAuthenticatorOptions.DefaultStepTimeout - TimeSpan.FromTicks(1));
        Assert.Equal(OspAuthState.AwaitingCapabilities, pair.Client.State);
        pair.Client.HandleDeadline(OspAuthenticatorOptions.DefaultStepTimeout);
        Assert.Equal(OspAuthFailure.Timeout, pair.Client.Failure);
        var sent = new List<IOspMessage>();
        while (pair.Client.TryPollTransmit(out var m)) sent.Add(m);
        Assert.IsType<AuthCapabilities>(sent[0]);
        Assert.Equal(AuthStatusResult.Timeout, Assert.IsType<AuthStatus>(sent[^1]).Result);
    }

    [Fact]
    public void PIN_not_entered_in_time_fails_with_validation_took_too_long()
    {
        using var pair = new AuthPair(tweak: b => b.PinEntryTimeout = TimeSpan.FromSeconds(30)) { PinToType = _ => null };
        pair.Start();
        Assert.Equal(TimeSpan.FromSeconds(30), pair.Client.NextDeadline);
        Assert.Equal(TimeSpan.FromSeconds(30), Single<OspAuthNeedPin>(pair.ClientEvents).Deadline);
        pair.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(OspAuthState.AwaitingPin, pair.Client.State);
        pair.Advance(TimeSpan.FromSeconds(1));
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.PinEntryTimeout);
        Assert.Contains(pair.Wire, w => w.FromClient && w.Message is AuthStatus { Result: AuthStatusResult.ValidationTookTooLong });
        Assert.Equal(OspAuthState.Failed, pair.Server.State);
    }

    [Fact]
    public void The_overall_timeout_caps_PIN_entry()
    {
        using var pair = new AuthPair(tweak: b =>
        {
            b.PinEntryTimeout = TimeSpan.FromSeconds(300);
            b.Timeout = TimeSpan.FromSeconds(90);
        })
        { PinToType = _ => null };
        pair.Start();
        Assert.Equal(TimeSpan.FromSeconds(90), pair.Client.NextDeadline);
        Assert.Equal(TimeSpan.FromSeconds(90), Single<OspAuthNeedPin>(pair.ClientEvents).Deadline);
        pair.Advance(TimeSpan.FromSeconds(90));
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.Timeout);
    }

    [Fact]
    public void Confirmation_that_never_comes_times_out()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => fromClient && m is AuthSpake2Confirmation ? null : m;
        pair.Start();
        Assert.Equal(OspAuthState.AwaitingConfirmation, pair.Server.State);
        pair.Advance(OspAuthenticatorOptions.DefaultStepTimeout);
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.Timeout);
    }

    [Fact]
    public void Neither_side_able_to_input_is_incompatible()
    {
        using var pair = new AuthPair(clientEase: 0, serverEase: 0, tweak: b => b.Methods = []);
        pair.Start();
        AssertFailed(pair.Client, pair.ClientEvents, OspAuthFailure.IncompatibleCapabilities);
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.IncompatibleCapabilities);
    }

    [Fact]
    public void Out_of_range_ease_of_input_is_refused()
    {
        using var pair = new AuthPair();
        pair.Tamper = (fromClient, m) => fromClient && m is AuthCapabilities c
            ? new AuthCapabilities { PskEaseOfInput = 101, PskInputMethods = c.PskInputMethods, PskMinBitsOfEntropy = c.PskMinBitsOfEntropy }
            : m;
        pair.Start();
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.IncompatibleCapabilities);
    }

    [Fact]
    public void A_second_capabilities_message_fails()
    {
        using var pair = new AuthPair { PinToType = _ => null };
        pair.Start();
        pair.Inject(toClient: false, new AuthCapabilities { PskEaseOfInput = 0, PskInputMethods = [], PskMinBitsOfEntropy = 20 });
        AssertFailed(pair.Server, pair.ServerEvents, OspAuthFailure.UnexpectedMessage);
    }

    [Fact]
    public void Nothing_is_processed_after_completion()
    {
        using var pair = new AuthPair();
        pair.Start();
        Assert.False(pair.Server.Receive(new AuthStatus { Result = AuthStatusResult.ProofInvalid }, pair.Now));
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
        Assert.False(pair.Server.Receive(new AgentInfoRequest { RequestId = 1 }, pair.Now));
    }

    [Fact]
    public void Advertiser_needs_its_token_and_fingerprints_must_be_SHA256()
    {
        Assert.Throws<ArgumentException>(() => new OspAuthenticator(new OspAuthenticatorOptionsBuilder
        {
            IsAdvertiser = true, Local = AuthPair.ServerFingerprint, Remote = AuthPair.ClientFingerprint, Token = null, Ease = 50, Bits = 20,
        }.Build()));
        Assert.Throws<ArgumentException>(() => new OspAuthenticator(new OspAuthenticatorOptionsBuilder
        {
            IsAdvertiser = false, Local = "AAAA", Remote = AuthPair.ServerFingerprint, Token = AuthPair.Token, Ease = 50, Bits = 20,
        }.Build()));
    }
}
