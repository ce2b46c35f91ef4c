using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OspBridge.Osp.Messages;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Sdp;

namespace OspBridge.Bridge.Server;

/// <summary>
/// WHEP (draft-ietf-wish-whep) at <c>/whep/{id}</c> and WHIP (RFC 9725) at <c>/whip/{id}</c> (docs/bridge.md):
/// the client's offer goes to the paired device over LAN signaling (the same path as <c>/ws/{id}</c>), the device's
/// complete answer comes back in the 201 with an unguessable <c>Location</c> and an <c>ETag</c>; trickled candidates
/// (PATCH) and the end of the session (DELETE) follow to the device by LAN signaling session id. Media flows directly
/// between the client and the device.
/// </summary>
internal sealed class WhepEndpoint
{
    /// <summary>The trickle media type (RFC 8840).</summary>
    public const string SdpFragType = "application/trickle-ice-sdpfrag";

    /// <summary>Most candidates trickled into one session over its life.</summary>
    public const int MaxTrickledPerSession = 256;

    /// <summary>Seconds a client is told to wait (Retry-After) when the device is offline or the bridge is full.</summary>
    public const int RetryAfterSeconds = 5;

    private const string EndpointMethods = "OPTIONS, POST, GET, HEAD";
    private const string SessionMethods = "OPTIONS, PATCH, DELETE, GET, HEAD";

    private readonly DeviceRegistry _devices;
    private readonly WhepSessions _sessions;
    private readonly ILogger _logger;

    private readonly Func<HttpContext, OpenStreams.Lease>? _leaseFor;

    /// <param name="devices">The devices.</param>
    /// <param name="sessions">The sessions.</param>
    /// <param name="logger">The log.</param>
    /// <param name="leaseFor">The caller's credential as a lease (revoking its browser token ends the session); null: none.</param>
    public WhepEndpoint(DeviceRegistry devices, WhepSessions sessions, ILogger logger, Func<HttpContext, OpenStreams.Lease>? leaseFor = null)
    {
        _devices = devices;
        _sessions = sessions;
        _logger = logger;
        _leaseFor = leaseFor;
    }

    /// <summary>The sessions.</summary>
    public WhepSessions Sessions => _sessions;

    /// <summary>True for <c>/whep/…</c> and <c>/whip/…</c>.</summary>
    public static bool IsWhepPath(PathString path) => path.StartsWithSegments("/whep") || path.StartsWithSegments("/whip");

    /// <summary>
    /// CORS for WHEP/WHIP, before authentication: answers preflights (OPTIONS carries no credential) with the
    /// methods and <c>Accept-Post</c>/<c>Accept-Patch</c>, and lets every other answer (401 included) be read by
    /// a page of another origin. No <c>Access-Control-Allow-Credentials</c>: cross-origin callers use Bearer tokens.
    /// </summary>
    public static async Task CorsAsync(HttpContext ctx, Func<Task> next)
    {
        if (!IsWhepPath(ctx.Request.Path))
        {
            await next().ConfigureAwait(false);
            return;
        }
        var h = ctx.Response.Headers;
        h.AccessControlAllowOrigin = "*";
        h.AccessControlExposeHeaders = "Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After, Allow";
        if (!HttpMethods.IsOptions(ctx.Request.Method))
        {
            await next().ConfigureAwait(false);
            return;
        }
        bool session = IsSessionPath(ctx.Request.Path);
        string methods = session ? SessionMethods : EndpointMethods;
        h.Allow = methods;
        h.AccessControlAllowMethods = methods;
        h.AccessControlAllowHeaders = "Authorization, Content-Type, If-Match";
        h.AccessControlMaxAge = "600";
        if (session) h["Accept-Patch"] = SdpFragType;
        else h["Accept-Post"] = "application/sdp";
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static bool IsSessionPath(PathString path) =>
        path.Value is { } p && p.Split('/', StringSplitOptions.RemoveEmptyEntries) is { Length: 4 } parts && parts[2] == "sessions";

    /// <summary>Maps the routes.</summary>
    public void Map(WebApplication app)
    {
        app.Map("/whep/{id}", (HttpContext ctx, string id) => EndpointAsync(ctx, WhepKind.Whep, id));
        app.Map("/whip/{id}", (HttpContext ctx, string id) => EndpointAsync(ctx, WhepKind.Whip, id));
        app.Map("/whep/{id}/sessions/{sid}", (HttpContext ctx, string id, string sid) => SessionAsync(ctx, WhepKind.Whep, id, sid));
        app.Map("/whip/{id}/sessions/{sid}", (HttpContext ctx, string id, string sid) => SessionAsync(ctx, WhepKind.Whip, id, sid));
    }

    private async Task EndpointAsync(HttpContext ctx, WhepKind kind, string id)
    {
        string method = ctx.Request.Method;
        if (HttpMethods.IsPost(method))
        {
            await PostAsync(ctx, kind, id).ConfigureAwait(false);
            return;
        }
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            if (_devices.Find(id) is null) throw new BridgeHttpException(404, $"no device {id}");
            ctx.Response.Headers["Accept-Post"] = "application/sdp";
            if (HttpMethods.IsHead(method)) ctx.Response.ContentType = "application/sdp"; // WHEP HEAD discovery
            ctx.Response.StatusCode = 200;
            return;
        }
        ctx.Response.Headers.Allow = EndpointMethods;
        throw new BridgeHttpException(405, $"{method} is not allowed on a {Name(kind)} endpoint");
    }

    private async Task SessionAsync(HttpContext ctx, WhepKind kind, string id, string sid)
    {
        string method = ctx.Request.Method;
        var session = _sessions.Find(kind, id, sid);
        if (HttpMethods.IsDelete(method))
        {
            // DELETE ignores ETags (RFC 9725 §4.3).
            if (session is null || !await _sessions.EndAsync(session, LanSignalingCloseReason.Normal, "client deleted the session").ConfigureAwait(false))
                throw new BridgeHttpException(404, "no such session");
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Kind} session {Id} with {Device} deleted", kind, sid, id);
            ctx.Response.StatusCode = 200;
            return;
        }
        if (session is null) throw new BridgeHttpException(404, "no such session");
        if (HttpMethods.IsPatch(method))
        {
            await PatchAsync(ctx, session).ConfigureAwait(false);
            return;
        }
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            ctx.Response.Headers.ETag = session.ETag;
            ctx.Response.Headers["Accept-Patch"] = SdpFragType;
            ctx.Response.StatusCode = 200;
            return;
        }
        ctx.Response.Headers.Allow = SessionMethods;
        throw new BridgeHttpException(405, $"{method} is not allowed on a {Name(kind)} session");
    }

    private async Task PostAsync(HttpContext ctx, WhepKind kind, string id)
    {
        if (!IsType(ctx.Request.ContentType, "application/sdp"))
            throw new BridgeHttpException(415, "expected Content-Type: application/sdp");
        string label = SignalingLabel(kind, ctx.Request.Query["stream"]);
        string sdp = await ReadTextAsync(ctx, TrickleOffer.MaxSdpLength).ConfigureAwait(false);
        var (description, clientUfrag) = CheckOffer(kind, sdp);

        if (!_sessions.TryReserve(id))
        {
            ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new BridgeHttpException(503, "too many sessions with this device or the bridge");
        }
        bool kept = false;
        try
        {
            DeviceLink link;
            try
            {
                link = await _devices.ConnectAsync(id, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (BridgeHttpException ex) when (ex.Status == 409)
            {
                // WHEP: the stream (the device) is offline: the player retries with backoff.
                ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw;
            }
            ulong signalingId = link.Signaling.NewSessionId();
            string answer;
            try
            {
                answer = await link.Signaling.OfferSessionAsync(signalingId, description, label, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (Osp.OspException ex) when (!ctx.RequestAborted.IsCancellationRequested && ex.Error == Osp.OspError.Refused
                && ex.ApplicationErrorCode == (long)Osp.Messages.Result.TransientError)
            {
                // The device says "not now" (nothing published to it, the stream offline): WHEP's 409, the player retries.
                ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw new BridgeHttpException(409, $"device {id}: {ex.Message}");
            }
            catch (Osp.OspException ex) when (!ctx.RequestAborted.IsCancellationRequested)
            {
                if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Kind} offer to {Device} failed: {Error}", kind, id, ex.Message);
                throw new BridgeHttpException(502, "the device did not accept the offer: " + ex.Message);
            }
            var session = _sessions.Add(kind, id, link, signalingId, clientUfrag, _leaseFor?.Invoke(ctx));
            kept = true;
            if (ctx.RequestAborted.IsCancellationRequested)
            {
                await _sessions.EndAsync(session, LanSignalingCloseReason.Normal, "client went away").ConfigureAwait(false);
                return;
            }
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Kind} session {Id} with {Device} created", kind, session.Id, id);
            var h = ctx.Response.Headers;
            h.Location = session.Location;
            h.ETag = session.ETag;
            h["Accept-Patch"] = SdpFragType;
            h.CacheControl = "no-store";
            ctx.Response.StatusCode = 201;
            ctx.Response.ContentType = "application/sdp";
            await ctx.Response.WriteAsync(answer, ctx.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            if (!kept) _sessions.Release(id);
        }
    }

    /// <summary>The LAN signaling label of the device's offer (the device's camera service reads it, CameraService).</summary>
    public const string PublishedLabel = Camera.CameraService.PublishedLabel;

    /// <summary>
    /// The offer's label for the device: <c>whip</c>, <c>whep</c> (the camera), or <see cref="PublishedLabel"/> for
    /// <c>/whep/{id}?stream=published</c> (the stream a WHIP client publishes to the device). 400 for another stream.
    /// </summary>
    internal static string SignalingLabel(WhepKind kind, Microsoft.Extensions.Primitives.StringValues stream)
    {
        if (stream.Count == 0) return Name(kind).ToLowerInvariant();
        if (kind == WhepKind.Whep && stream.Count == 1 && stream[0] is "published") return PublishedLabel;
        if (kind == WhepKind.Whep && stream.Count == 1 && stream[0] is "camera") return "whep";
        throw new BridgeHttpException(400, kind == WhepKind.Whep ? "stream must be camera or published" : "a WHIP endpoint takes no stream parameter");
    }

    /// <summary>
    /// Checks a client's offer: valid SDP with at most one audio and one video section (no data-only offer),
    /// WHEP sections <c>recvonly</c>, WHIP sections <c>sendonly</c>. 400 for bad SDP, 422 for what is valid SDP but
    /// not a WHEP/WHIP offer. Returns the offer and the client's ICE username fragment.
    /// </summary>
    internal static (string Sdp, string? Ufrag) CheckOffer(WhepKind kind, string sdp)
    {
        if (!TrickleOffer.TryCreate(sdp, out _, out string? error)) throw new BridgeHttpException(400, error!);
        SessionDescription description;
        try { description = SessionDescription.Parse(sdp); }
        catch (WebRtcException ex) { throw new BridgeHttpException(400, "bad sdp: " + ex.Message); }
        var media = description.Media.Where(m => m.Port != 0 && m.Media is "audio" or "video").ToList();
        if (media.Count == 0) throw new BridgeHttpException(422, $"a {Name(kind)} offer needs an audio or video section");
        if (media.Count(m => m.Media == "audio") > 1 || media.Count(m => m.Media == "video") > 1)
            throw new BridgeHttpException(422, "at most one audio and one video section (one MediaStream)");
        string wanted = kind == WhepKind.Whep ? "recvonly" : "sendonly";
        foreach (var m in media)
        {
            string direction = Direction(description, m);
            if (direction != wanted)
                throw new BridgeHttpException(422, $"a {Name(kind)} offer's {m.Media} section must be {wanted}, not {direction}");
        }
        string? ufrag = media[0].IceUfrag ?? description.GetAttribute("ice-ufrag");
        return (sdp, ufrag);
    }

    private static string Direction(SessionDescription description, SdpMediaDescription m)
    {
        foreach (string d in (string[])["sendrecv", "sendonly", "recvonly", "inactive"])
            if (m.HasAttribute(d)) return d;
        foreach (string d in (string[])["sendrecv", "sendonly", "recvonly", "inactive"])
            if (description.HasAttribute(d)) return d;
        return "sendrecv";
    }

    private static async Task PatchAsync(HttpContext ctx, WhepSession session)
    {
        string? type = ctx.Request.ContentType;
        if (IsType(type, "application/sdp"))
            throw new BridgeHttpException(422, "renegotiation (an SDP PATCH) is not supported: only trickle ICE");
        if (!IsType(type, SdpFragType)) throw new BridgeHttpException(415, $"expected Content-Type: {SdpFragType}");
        string ifMatch = ctx.Request.Headers.IfMatch.ToString().Trim();
        // A missing If-Match is accepted for trickle: whip-whep 1.2.0 (medooze) sends none before an ICE restart.
        if (ifMatch.Length > 0 && ifMatch != "*" && !ifMatch.Split(',').Select(e => e.Trim()).Any(e => e == session.ETag || e == "W/" + session.ETag))
            throw new BridgeHttpException(412, "the session's ETag does not match If-Match");
        string text = await ReadTextAsync(ctx, WhepSdpFragment.MaxLength).ConfigureAwait(false);
        if (!WhepSdpFragment.TryParse(text, out var fragment, out string? error)) throw new BridgeHttpException(400, error!);
        // ICE restart (RFC 9725 §4.3.2): If-Match "*", or credentials other than the session's.
        bool restart = ifMatch == "*" || (fragment!.IceUfrag is { } ufrag && ufrag != session.ClientUfrag);
        if (restart)
        {
            await RestartIceAsync(ctx, session, fragment!).ConfigureAwait(false);
            return;
        }
        if (!session.TryTrickle(fragment!.Candidates.Count, MaxTrickledPerSession))
            throw new BridgeHttpException(400, $"more than {MaxTrickledPerSession} candidates trickled into this session");
        if (!session.Link.IsAlive || session.DeviceEndedAt is not null) throw new BridgeHttpException(404, "the session's peer connection has ended");
        try
        {
            foreach (var c in fragment.Candidates)
                await session.Link.Signaling.SendCandidateAsync(session.SignalingId, c.Candidate, c.Mid, (ulong)c.MLineIndex, fragment.IceUfrag ?? session.ClientUfrag, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Osp.OspException ex)
        {
            throw new BridgeHttpException(502, "could not pass the candidates to the device: " + ex.Message);
        }
        ctx.Response.StatusCode = 204;
    }

    /// <summary>
    /// ICE restart: the client's new ufrag/pwd go to the device (<c>lan-signaling-ice-restart</c>), whose peer connection
    /// restarts ICE (new credentials, same DTLS/SRTP) and answers with its fragment; the client's candidates in the PATCH
    /// follow; 200 with the device's fragment and a new ETag.
    /// </summary>
    private static async Task RestartIceAsync(HttpContext ctx, WhepSession session, WhepSdpFragment fragment)
    {
        if (fragment.IceUfrag is not { } ufrag || fragment.IcePwd is not { } pwd)
            throw new BridgeHttpException(400, "an ICE restart fragment needs a=ice-ufrag and a=ice-pwd");
        if (!session.TryTrickle(fragment.Candidates.Count, MaxTrickledPerSession))
            throw new BridgeHttpException(400, $"more than {MaxTrickledPerSession} candidates trickled into this session");
        if (!session.Link.IsAlive || session.DeviceEndedAt is not null) throw new BridgeHttpException(404, "the session's peer connection has ended");
        string answer;
        try
        {
            answer = await session.Link.Signaling.RestartIceAsync(session.SignalingId, ufrag, pwd, ctx.RequestAborted).ConfigureAwait(false);
            foreach (var c in fragment.Candidates)
                await session.Link.Signaling.SendCandidateAsync(session.SignalingId, c.Candidate, c.Mid, (ulong)c.MLineIndex, ufrag, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Osp.OspException ex) when (ex.Error == Osp.OspError.Refused)
        {
            throw new BridgeHttpException(422, "the device could not restart ICE: " + ex.Message);
        }
        catch (Osp.OspException ex)
        {
            throw new BridgeHttpException(502, "the device did not answer the ICE restart: " + ex.Message);
        }
        session.ClientUfrag = ufrag;
        session.ETag = WhepSessions.NewIds().ETag;
        session.IceRestarts++;
        ctx.Response.Headers.ETag = session.ETag;
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = SdpFragType;
        await ctx.Response.WriteAsync(answer, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static bool IsType(string? contentType, string wanted) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals(wanted, StringComparison.OrdinalIgnoreCase);

    /// <summary>The request body as UTF-8 text of at most <paramref name="max"/> bytes (413 beyond, 400 if not UTF-8).</summary>
    private static async Task<string> ReadTextAsync(HttpContext ctx, int max)
    {
        if (ctx.Request.ContentLength > max) throw new BridgeHttpException(413, "body too large");
        var buffer = new byte[Math.Min(max, (int?)ctx.Request.ContentLength ?? 16 * 1024) + 1];
        int used = 0;
        while (true)
        {
            if (used == buffer.Length)
            {
                if (buffer.Length > max) throw new BridgeHttpException(413, "body too large");
                Array.Resize(ref buffer, Math.Min(max + 1, buffer.Length * 2));
            }
            int n = await ctx.Request.Body.ReadAsync(buffer.AsMemory(used), ctx.RequestAborted).ConfigureAwait(false);
            if (n == 0) break;
            used += n;
            if (used > max) throw new BridgeHttpException(413, "body too large");
        }
        try { return new UTF8Encoding(false, true).GetString(buffer, 0, used); }
        catch (DecoderFallbackException) { throw new BridgeHttpException(400, "body is not UTF-8"); }
    }

    private static string Name(WhepKind kind) => kind == WhepKind.Whep ? "WHEP" : "WHIP";
}
