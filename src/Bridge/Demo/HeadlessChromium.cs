namespace OspBridge.Bridge.Demo;

/// <summary>How <c>demo --headless</c> starts Chromium (no Playwright in the app: the page runs the story itself).</summary>
internal static class HeadlessChromium
{
    private static readonly string[] Candidates =
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable", "/snap/bin/chromium"];

    /// <summary><paramref name="configured"/> when it exists, else the first Chromium found (null: none).</summary>
    public static string? Find(string? configured)
    {
        if (configured is not null) return File.Exists(configured) ? configured : null;
        return Candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Headless with a fake camera and microphone granted without a prompt, autoplay allowed, no background traffic
    /// (sync, component updates, field trials), its own profile in <paramref name="profile"/>; host ICE candidates as
    /// plain addresses (the demo device resolves no mDNS names off <c>lo</c>); no sandbox when running as root.
    /// </summary>
    public static IReadOnlyList<string> Arguments(string profile, string url)
    {
        var args = new List<string>
        {
            "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--disable-extensions", "--metrics-recording-only", "--mute-audio",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required",
            "--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints",
            "--user-data-dir=" + profile,
        };
        if (Environment.UserName == "root") args.Add("--no-sandbox");
        args.Add(url);
        return args;
    }
}
