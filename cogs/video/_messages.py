"""Every sentence of the video feature, in English and Simplified Chinese.

Replies are rendered in the member's language (`interaction.locale`); anything said later —
card updates, the delivery, failures — uses the locale stored on the job, so a Chinese member
reads Chinese even after a restart. Discord timestamps (`<t:…:R>`) are rendered by each
reader's client in their own language, which is why ETAs use them.
"""

from __future__ import annotations

from bot.i18n import Message

# -- the command's own answers ----------------------------------------------------------------

RESTARTING = Message(
    en="The bot is restarting and is not taking new videos. Please try again in a minute.",
    zh="机器人正在重启，暂不接受新的视频请求。请一分钟后再试。",
)
JOB_UNKNOWN = Message(en="There is no video #{job_id} any more.", zh="视频 #{job_id} 已不存在。")
PICTURE_DOWNLOAD_FAILED = Message(
    en="I could not download your picture from Discord. Please send it again.",
    zh="我无法从 Discord 下载你的图片。请重新发送。",
)
PICTURE_GONE = Message(
    en="The start picture of that video is no longer kept (pictures are kept {days} days after their last "
    "use). Send /video with the picture again.",
    zh="那个视频的起始图片已不再保存（图片在最后一次使用后保存 {days} 天）。请带上图片重新发送 /video。",
)

# -- the status card --------------------------------------------------------------------------

CARD_TITLE = Message(en="Video #{job_id}", zh="视频 #{job_id}")
FIELD_STATUS = Message(en="Status", zh="状态")
FIELD_SETTINGS = Message(en="Settings", zh="参数")
FIELD_SEED = Message(en="Seed", zh="种子")
FIELD_NEGATIVE = Message(en="Negative prompt", zh="反向提示词")
FIELD_REQUESTED = Message(en="Requested by", zh="请求者")
SETTINGS_LINE = Message(
    en="{width}×{height} · {seconds} s ({frames} frames at {fps} fps) · {steps} steps · CFG {cfg}",
    zh="{width}×{height} · {seconds} 秒（{frames} 帧，{fps} fps）· {steps} 步 · CFG {cfg}",
)
WORKFLOW_LINE = Message(en="Workflow: {name}", zh="工作流：{name}")

QUEUED_AHEAD = Message(en="Queued: {ahead} ahead of you.", zh="排队中：前面还有 {ahead} 个。")
QUEUED_NEXT = Message(en="Queued: you are next.", zh="排队中：下一个就是你。")
QUEUED = Message(en="Queued.", zh="排队中。")
NO_SERVER = Message(
    en="⚠️ No server can run the {name} workflow right now: your video keeps its place and starts when one can.",
    zh="⚠️ 目前没有服务器能运行 {name} 工作流：你的视频保留位置，有服务器可用时开始。",
)
ETA = Message(en="Starts {starts}, ready {done} (estimate).", zh="预计 {starts}开始，{done}完成。")
SUBMITTED = Message(en="Sent to a GPU, starting…", zh="已发送到 GPU，即将开始……")
SUBMITTED_BEHIND = Message(
    en="Sent to a GPU: {ahead} ahead of you there.", zh="已发送到 GPU：前面还有 {ahead} 个。"
)
RUNNING = Message(en="Rendering: {stage}", zh="生成中：{stage}")
RUNNING_STEPS = Message(
    en="Rendering: {stage}\n{bar} {percent}% · step {value}/{max}",
    zh="生成中：{stage}\n{bar} {percent}% · 第 {value}/{max} 步",
)
RUNNING_PROGRESS = Message(en="Rendering: {stage}\n{bar} {percent}%", zh="生成中：{stage}\n{bar} {percent}%")
READY_IN = Message(en="Ready {done} (estimate).", zh="预计 {done}完成。")
FETCHED = Message(en="Rendered. Uploading…", zh="已生成，正在上传……")
DELIVERED = Message(en="Done: {link}", zh="完成：{link}")
CANCELLED = Message(en="Cancelled.", zh="已取消。")
CANCELLED_BY_MODERATOR = Message(en="Cancelled by a moderator.", zh="已被管理员取消。")
FAILED = Message(en="Failed: {reason}", zh="失败：{reason}")

STAGE_LOADING = Message(en="loading the model", zh="加载模型")
STAGE_TEXT = Message(en="reading the prompt", zh="理解提示词")
STAGE_SAMPLING = Message(en="sampling", zh="采样")
STAGE_DECODING = Message(en="decoding frames", zh="解码画面")
STAGE_ENCODING = Message(en="encoding the video", zh="编码视频")
STAGE_WORKING = Message(en="working", zh="处理中")

# Why a job failed, by `JobRecord.error_code` (set by the dispatcher), said so that the member
# knows what to do next.
FAILURE_REASONS: dict[str, Message] = {
    "out_of_memory": Message(
        en="out of GPU memory: choose a smaller size or a shorter duration.",
        zh="GPU 显存不足：请尝试更小的尺寸或更短的时长。",
    ),
    # A broken or wrong model file on the render server (`ExecutionFailed.kind`): the same job
    # fails again until the operator replaces it, so the member is not told to retry.
    "model_file": Message(
        en="the render server could not load one of its model files. Retrying will not help: tell a moderator.",
        zh="生成服务器无法加载它的一个模型文件，重试也没有用：请告诉管理员。",
    ),
    "execution_error": Message(
        en="the render crashed on the server. Try again; if it keeps failing, tell a moderator.",
        zh="服务器生成时出错。请重试；如果一直失败，请告诉管理员。",
    ),
    "rejected": Message(
        en="the render server refused this request. Tell a moderator (they can run `wanbot check`).",
        zh="生成服务器拒绝了这个请求。请告诉管理员（可运行 `wanbot check` 检查）。",
    ),
    "backend_failed": Message(
        en="the render servers kept failing. Please try again later.",
        zh="生成服务器多次出错。请稍后再试。",
    ),
    "no_output": Message(
        en="the render finished without a video. Tell a moderator.",
        zh="生成结束了，但没有产出视频。请告诉管理员。",
    ),
    "output_lost": Message(
        en="the finished video was lost before it could be posted. Please try again.",
        zh="视频在发送前丢失了。请重试。",
    ),
    "delivery_failed": Message(
        en="the video could not be posted here. A moderator can check my permissions in this channel.",
        zh="视频无法发送到这里。请管理员检查我在此频道的权限。",
    ),
    "interrupted": Message(
        en="it was stopped on the render server.", zh="它在生成服务器上被中止了。"
    ),
    "image_lost": Message(
        en="its start picture was lost before the render could use it. Send /video with the picture again.",
        zh="起始图片在生成前丢失了。请带上图片重新发送 /video。",
    ),
}
FAILURE_OTHER = Message(en="something went wrong ({code}). Please try again.", zh="出了点问题（{code}）。请重试。")

# -- buttons ----------------------------------------------------------------------------------

BUTTON_CANCEL = Message(en="Cancel", zh="取消")
BUTTON_REROLL = Message(en="Reroll", zh="换个种子")
BUTTON_AGAIN = Message(en="Same settings", zh="相同参数再来")
BUTTON_DELETE = Message(en="Delete", zh="删除")
BUTTON_REMIX = Message(en="Remix", zh="修改提示词")
# On `/history`, one per listed video.
BUTTON_REMIX_JOB = Message(en="Remix #{job_id}", zh="修改 #{job_id}")
DELETED = Message(en="Deleted.", zh="已删除。")
DELETE_NOT_ALLOWED = Message(
    en="Only the person who asked for video #{job_id} or a moderator can delete it.",
    zh="只有视频 #{job_id} 的请求者或管理员可以删除它。",
)

# -- the Remix form (Discord: title and labels at most 45 characters, descriptions and
# placeholders at most 100) --------------------------------------------------------------------

REMIX_TITLE = Message(en="Remix video #{job_id}", zh="修改视频 #{job_id} 的提示词")
REMIX_PROMPT = Message(en="Prompt", zh="提示词")
REMIX_PROMPT_HINT = Message(
    en="The workflow, size, duration and other settings stay as they were",
    zh="工作流、尺寸、时长和其他参数保持不变",
)
REMIX_NEGATIVE = Message(en="Negative prompt", zh="反向提示词")
REMIX_NEGATIVE_HINT = Message(en="What to avoid; empty: the workflow's standard list",
                              zh="不希望出现的内容；留空则使用工作流的标准列表")
REMIX_SEED = Message(en="Seed (optional)", zh="种子（可选）")
REMIX_SEED_HINT = Message(en="The same seed and settings give the same video", zh="相同的种子和参数生成相同的视频")
REMIX_SEED_EMPTY = Message(en="Empty: a new random seed (this video had {seed})",
                           zh="留空：使用新的随机种子（原视频为 {seed}）")
REMIX_TOO_LONG = Message(
    en="Video #{job_id}'s {field} is too long to edit in a form ({length} characters; Discord allows "
    "{max}). Use /video with the new text instead.",
    zh="视频 #{job_id} 的{field}太长（{length} 个字符，Discord 表单最多 {max} 个），无法在表单中修改。"
    "请直接用 /video 输入新的内容。",
)

# -- the delivery -----------------------------------------------------------------------------

RESULT = Message(en="{mention} your video #{job_id} is ready.", zh="{mention} 你的视频 #{job_id} 好了。")
RESULT_IN_DM = Message(
    en="I could not post in <#{channel_id}>, so here is your video #{job_id}.",
    zh="我无法在 <#{channel_id}> 发言，所以把视频 #{job_id} 发到这里。",
)
FIELD_TIMINGS = Message(en="Timings", zh="用时")
TIMINGS = Message(en="waited {queued}, rendered in {render}", zh="排队 {queued}，生成 {render}")
REENCODED = Message(
    en="Compressed to fit the {limit_mb} MB upload limit ({width}×{height}).",
    zh="已压缩以符合 {limit_mb} MB 的上传上限（{width}×{height}）。",
)
TOO_LARGE_NOTICE = Message(
    en="{mention} your video #{job_id} is ready, but at {size_mb} MB it cannot fit this server's "
    "{limit_mb} MB upload limit, even compressed, at a watchable quality. {how}",
    zh="{mention} 你的视频 #{job_id} 已生成，但它有 {size_mb} MB，即使压缩也无法在保证画质的前提下"
    "低于本服务器 {limit_mb} MB 的上传上限。{how}",
)
TOO_LARGE_LINK = Message(en="Download it here: {url}", zh="在这里下载：{url}")
TOO_LARGE_ASK = Message(
    en="The file is kept on the bot's server as `{name}`: ask a moderator for it, or try a shorter "
    "duration or a smaller size.",
    zh="文件以 `{name}` 保存在机器人的服务器上：可以向管理员索取，或尝试更短的时长、更小的尺寸。",
)
